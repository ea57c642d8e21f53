"""Load-dependent figures of an attack: ping latency and server memory, measured, never
asserted (they depend on what else the machine runs).

:class:`PingProbe` pings a server from a process of its own (so that the attacking test's
own work does not slow the pings down) on one keep-alive connection, before and while an
attack runs, and samples the server's resident memory; :meth:`PingProbe.report` writes
the medians with and without the attack, the worst ping and the memory growth to the
run's figures (``.last_run.json``), for the README's security table.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from types import TracebackType

import psutil

from tests.conftest import RunningServer
from tests.support import wait_until

from .conftest import Figures

__all__ = ["PingProbe"]

_PINGER = """
import sys, threading, time, httpx
url, pace = sys.argv[1], float(sys.argv[2])
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
with httpx.Client(timeout=60) as http:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            ok = http.get(url).status_code == 200
        except httpx.HTTPError:
            ok = False
        latency = time.perf_counter() - started if ok else -1.0
        print(f"{time.monotonic():.6f} {latency:.6f}", flush=True)
        stop.wait(pace)
"""
"""Pings until its stdin closes; one line a ping: when it was answered
(``time.monotonic()``, the same clock in every process) and its latency (-1: failed)."""
_PACE = 0.02
"""Seconds between two pings (the attack's load is what is measured)."""


class PingProbe:
    """Ping latencies and server memory during an attack (a context manager).

    >>> with PingProbe(server) as probe:  # doctest: +SKIP
    ...     attack()
    >>> probe.report(figures, "withheld bodies")  # doctest: +SKIP

    The baseline is measured when the probe is made, before the attack; ``pace`` is the
    pause between two pings (shorter for short attacks, to have pings enough during them).
    """

    def __init__(self, server: RunningServer, baseline: int = 40, pace: float = _PACE) -> None:
        self._server = psutil.Process(server.process.pid)
        self._pings: list[tuple[float, float | None]] = []
        self._lock = threading.Lock()
        self._pinger = subprocess.Popen(
            [sys.executable, "-c", _PINGER, f"{server.url}/api/v1/experiment/ping", str(pace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="ping-reader", daemon=True)
        self._reader.start()
        wait_until(
            lambda: len(self._pings) >= baseline,
            timeout=60,
            what=f"{baseline} pings before the attack",
        )
        self.started = time.monotonic()
        """When the attack started: pings answered after it count as during it."""
        self.rss_before = self._rss()
        self.rss_peak = self.rss_before
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="rss", daemon=True)

    def _read(self) -> None:
        assert self._pinger.stdout is not None
        for line in self._pinger.stdout:
            at, latency = (float(x) for x in line.split())
            with self._lock:
                self._pings.append((at, latency if latency >= 0 else None))

    def _rss(self) -> int:
        try:
            return int(self._server.memory_info().rss)
        except psutil.NoSuchProcess:
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(_PACE):
            self.rss_peak = max(self.rss_peak, self._rss())

    def __enter__(self) -> PingProbe:
        self.started = time.monotonic()
        self._sampler.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.ended = time.monotonic()
        self._stop.set()
        self._sampler.join(60)
        assert self._pinger.stdin is not None
        self._pinger.stdin.close()
        self._pinger.wait(120)
        self._reader.join(60)
        assert self._pinger.stdout is not None
        self._pinger.stdout.close()

    @property
    def quiet(self) -> list[float | None]:
        """Ping latencies (s) before the attack; None for a failed ping."""
        with self._lock:
            return [latency for at, latency in self._pings if at < self.started]

    @property
    def during(self) -> list[float | None]:
        """Ping latencies (s) while the attack ran; None for a failed ping."""
        with self._lock:
            return [latency for at, latency in self._pings if at >= self.started]

    def answered_between(self, start: float, end: float) -> int:
        """How many pings were answered between two ``time.monotonic()`` readings."""
        with self._lock:
            return sum(1 for at, latency in self._pings if latency and start <= at <= end)

    def report(self, figures: Figures, what: str) -> dict[str, float | int]:
        """Write the figures of the attack ``what`` and return them."""
        quiet = [t for t in self.quiet if t is not None]
        during = [t for t in self.during if t is not None]
        quiet_median = statistics.median(quiet) if quiet else float("nan")
        during_median = statistics.median(during) if during else float("nan")
        found: dict[str, float | int] = {
            "ping median without (ms)": round(1000 * quiet_median, 2),
            "ping median during (ms)": round(1000 * during_median, 2),
            "ping max during (ms)": round(1000 * max(during, default=float("nan")), 1),
            "ping median ratio": round(during_median / quiet_median, 2) if quiet else 0.0,
            "pings during": len(self.during),
            "pings failed during": sum(1 for t in self.during if t is None),
            "server RSS growth (MB)": round((self.rss_peak - self.rss_before) / 1e6, 2),
        }
        for key, value in found.items():
            figures.set(f"{what}: {key}", value)
        return found

"""Goals 9 and 10 (second half): following a 50 MB log to its end.

An experiment writes 50 MiB of 100-byte lines at about 10 MB/s (so there is something to
follow). Our client follows it with ``stream_logs`` (the local server's log-stream
extension: a cursor and a long poll); the baseline polls status and the standard full-log
endpoint once a second, as the upstream client's ``wait_for_finish`` does (raw httpx +
``json.loads``). Each follow runs in a fresh worker; the bytes of every response body are
counted, and the server's and the worker's RSS are sampled every 20 ms.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from benchmarks.context import Context
from benchmarks.harness import Row, Stats
from benchmarks.servers import Server, Worker, rss_of

__all__ = ["FLOOD", "run"]

FLOOD = """\
import sys, time
total, chunk = int(sys.argv[1]), int(sys.argv[2])
line = ("x" * 99 + "\\n")
lines_per_chunk = max(1, chunk // len(line))
written = 0
start = time.monotonic()
rate = 10 * 2**20
while written < total:
    n = min(lines_per_chunk, (total - written) // len(line))
    if n <= 0:
        break
    sys.stdout.write(line * n)
    sys.stdout.flush()
    written += n * len(line)
    ahead = written / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
"""
"""The flooding replica: writes argv[1] bytes of 100-byte lines, argv[2] bytes at a time."""


class Sampler:
    """Samples the peak RSS of some processes every 20 ms while it runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                try:
                    self.peak[name] = max(self.peak[name], rss_of(pid))
                except Exception:  # the process may be gone
                    continue
            self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _flood_spec(script: Path, total: int, chunk: int, name: str = "flood") -> dict[str, Any]:
    return {
        "meta": {
            "name": name,
            "framework": "TensorFlow",
            "cmd": f"{sys.executable} {script} {total} {chunk}",
        },
        "environment": {"image": "local"},
        "spec": {"Worker": {"replicas": 1, "resources": "cpu=0.5,memory=256M"}},
    }


def run(ctx: Context) -> None:
    """Follow a flooding experiment with each method; record time, bytes and memory."""
    total = ctx.size(50 * 2**20, 256 * 1024)
    chunk = ctx.size(2**20, 32 * 1024)
    lines = total // 100
    repeats = ctx.size(3, 1)
    interval = ctx.size(10, 2) / 10  # 1 s, as upstream; shorter in a smoke run
    data = ctx.scratch("logs")
    script = data / "flood.py"
    script.write_text(FLOOD, encoding="utf-8")
    spec = _flood_spec(script, total, chunk)
    # A small log each follower reads first, so that its baseline RSS already holds what
    # following costs once (imports, validators built on first use).
    warm_spec = _flood_spec(script, 64 * 1024, 64 * 1024, name="flood-warm-up")
    results: dict[str, dict[str, list[float]]] = {}
    idle: list[float] = []
    for index in range(repeats * 2):
        impl = ("ours", "raw")[(index + index // 2) % 2]  # ours, raw, raw, ours...
        # A fresh server each time: memory freed after serving one follower is not
        # always given back to the system, and would count against the next one.
        with Server(ctx.scratch(f"logs-{index}")) as server:
            idle.append(float(server.rss()))
            with Worker("ours", server.url) as creator, Worker(impl, server.url) as follower:
                warm_id = creator.call(op="create", n=1, spec=warm_spec)["ids"][0]
                follower.call(op="follow", id=warm_id, interval=interval)
                base_rss = rss_of(follower.process.pid)
                experiment_id = creator.call(op="create", n=1, spec=spec)["ids"][0]
                ctx.log(f"logs: following {total / 2**20:.1f} MiB with {impl}")
                with Sampler({"server": server.pid, "client": follower.process.pid}) as s:
                    answer = follower.call(op="follow", id=experiment_id, interval=interval)
            if answer["lines"] < lines:
                raise RuntimeError(
                    f"{impl} saw {answer['lines']} lines of {experiment_id}, "
                    f"expected at least {lines}"
                )
            got = results.setdefault(impl, {"seconds": [], "bytes": [], "client": []})
            got["seconds"].append(float(answer["seconds"]))
            got["bytes"].append(float(answer["bytes"]))
            got["client"].append(float(max(0, s.peak["client"] - base_rss)))
            got.setdefault("server", []).append(float(s.peak["server"]))
    idle_rss = Stats.of(idle).median
    size = f"{total / 2**20:.0f} MiB" if total >= 2**20 else f"{total / 1024:.0f} KiB"
    ours, raw = results["ours"], results["raw"]
    for key, what, field, unit in (
        ("9.1", f"follow a {size} log to its end: time", "seconds", "s"),
        ("9.2", f"follow a {size} log to its end: bytes received", "bytes", "B"),
        ("9.3", f"follow a {size} log: client RSS growth (peak)", "client", "B"),
    ):
        cand = Stats.of(ours[field])
        base = Stats.of(raw[field])
        ratio = Stats.of(
            [c / b if b else float("inf") for c, b in zip(ours[field], raw[field], strict=True)]
        )
        ctx.add(
            Row(
                key,
                what,
                "status + full `logs/{id}` polled every 1 s (upstream's way)",
                unit,  # type: ignore[arg-type]
                cand,
                base,
                ratio,
                None,
            )
        )
    server_peak = Stats.of(ours["server"])
    ctx.add(
        Row(
            "10.2",
            f"server peak RSS while streaming the {size} log to our client",
            "the same server idle",
            "B",
            server_peak,
            Stats.of([idle_rss]),
            server_peak.scaled(1.0 / idle_rss),
            None,
            note="while serving the polled full-log baseline the peak was "
            f"{Stats.of(raw['server']).median / 2**20:.0f} MiB",
        )
    )

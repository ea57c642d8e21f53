"""The replica side of tracking: a bounded buffer and the thread that empties it.

Training never waits for the network and never fails because of it. Records go to a
buffer that a background thread sends in batches (every :data:`FLUSH_SECONDS`, or as soon
as :data:`BATCH_SIZE` are waiting) through a :class:`Transport`: to the local server over
HTTP (:mod:`submarine._trackhttp`) or into a Submarine 0.8.0 database
(:mod:`submarine._trackdb`). What the other end cannot take now is kept and tried again:

* a transport says a batch may be taken later (a server or database that cannot be
  reached, is busy or timed out) by raising :class:`TransientError`: it is retried with
  backoff (half a second, doubling, at most :data:`MAX_BACKOFF`);
* a batch it refuses (a bad record, the experiment unknown or deleted, a quota full) is
  given up at once;
* past :data:`MAX_BUFFER` waiting records the oldest are dropped.

Records given up or dropped are counted, and said once on stderr (then again, in total, at
exit); training goes on. At exit the rest is sent, giving up once no batch has been taken
for ``SUBMARINE_TRACKING_EXIT_TIMEOUT`` seconds (:data:`EXIT_SECONDS` by default): a server
that is gone or drips its answers never keeps a finished training process alive.

Standard library only: a training process imports it.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
from typing import Any, Final, NamedTuple, Protocol

from submarine.models.trackwire import MetricRecord, ParamRecord

__all__ = [
    "BATCH_SIZE",
    "EXIT_ENV",
    "EXIT_SECONDS",
    "FLUSH_SECONDS",
    "MAX_BACKOFF",
    "MAX_BUFFER",
    "Outcome",
    "Sender",
    "TrackingError",
    "TransientError",
    "Transport",
    "exit_seconds",
]

BATCH_SIZE: Final = 5000
"""Records that wake the sender at once; a batch holds at most this many."""
FLUSH_SECONDS: Final = 1.0
"""The longest a record waits in the buffer before it is sent."""
MAX_BUFFER: Final = 1_000_000
"""Records of each kind kept while they cannot be sent; past this, the oldest are dropped
(counted, and said once)."""
MAX_BACKOFF: Final = 10.0
"""The longest pause between two tries of a server that cannot be reached."""
EXIT_ENV: Final = "SUBMARINE_TRACKING_EXIT_TIMEOUT"
"""Seconds without a batch taken after which the final flush at exit gives up."""
EXIT_SECONDS: Final = 10.0
"""The default of :data:`EXIT_ENV`."""


class TrackingError(RuntimeError):
    """Metrics or params cannot be recorded: not in a replica, or (from :func:`flush`) the
    server or database cannot be reached or refused them."""


class TransientError(Exception):
    """The other end cannot take the batch now: try again later."""


class Outcome(NamedTuple):
    """What became of a batch a transport was given."""

    taken: int
    """Records from the front of the batch that are done with (recorded or given up)."""
    lost: int
    """Of those, how many were given up."""
    reason: str | None = None
    """Why records were given up (said once on stderr), or None."""


class Transport(Protocol):
    """Where batches go: the local server, or a database."""

    @property
    def where(self) -> str:
        """The other end, for messages (no password)."""

    def send(
        self, kind: str, experiment_id: str, worker: str, batch: list[Any]
    ) -> Outcome:  # pragma: no cover - a protocol
        """Record the front of ``batch`` (of ``kind``: ``metric`` or ``param``).

        Raises:
            TransientError: nothing was taken; try again later.
        """


def _say(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # no stderr left: nothing to say it on
        print(f"submarine tracking: {message}", file=sys.stderr, flush=True)


def exit_seconds() -> float:
    """How long the final flush at exit may go without a batch taken (:data:`EXIT_ENV`)."""
    text = os.environ.get(EXIT_ENV, "")
    try:
        value = float(text) if text.strip() else EXIT_SECONDS
    except ValueError:
        value = EXIT_SECONDS
    return value if value >= 0 else EXIT_SECONDS


class Sender:
    """The buffer of one process and the thread that empties it through a transport.

    Args:
        transport: where batches go.
        experiment_id: whose records these are.
        worker: the replica's worker index.
    """

    def __init__(self, transport: Transport, experiment_id: str, worker: str) -> None:
        self.transport = transport
        self.experiment_id = experiment_id
        self.worker = worker
        # Lists, appended to by the training threads and emptied from the front under
        # ``_trim``; each append is one atomic step, so appending takes no lock.
        self.metrics: list[MetricRecord] = []
        """Metric records waiting: (key, value, step, timestamp)."""
        self._params: list[ParamRecord] = []
        self._trim = threading.Lock()
        self._removed = {"metric": 0, "param": 0}  # taken from the front, sent or dropped
        self.lost = {"metric": 0, "param": 0}
        """Records dropped or given up, by kind."""
        self._said: set[str] = set()
        self._reason = ""
        self._backing_off = False
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._asked = self._served = 0
        self._error: str | None = None
        self._refused: str | None = None
        self._taken_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="submarine-tracking", daemon=True)
        self._thread.start()

    # -- the training side ---------------------------------------------------------------

    def metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        """Keep a metric for sending (the oldest is dropped when the buffer is full)."""
        metrics = self.metrics
        if len(metrics) >= BATCH_SIZE:
            if len(metrics) >= MAX_BUFFER:
                self._drop_oldest("metric", metrics)
            if not self._backing_off and not self._wake.is_set():
                self._wake.set()
        metrics.append((key, value, step, timestamp))

    def param(self, key: str, value: str) -> None:
        """Keep a param for sending (the oldest is dropped when the buffer is full)."""
        if len(self._params) >= MAX_BUFFER:
            self._drop_oldest("param", self._params)
        self._params.append((key, value))

    def _drop_oldest(self, kind: str, buffer: list[Any]) -> None:
        with self._trim:
            count = max(0, len(buffer) - MAX_BUFFER) + BATCH_SIZE
            del buffer[:count]
            self._removed[kind] += count
            self.lost[kind] += count
        self._say_once(
            "full",
            f"{MAX_BUFFER} {kind}s are waiting for {self.transport.where} "
            f"({self._reason or 'it is slow'}): the oldest are dropped from now on, and "
            "counted; training goes on",
        )

    def _say_once(self, what: str, message: str) -> None:
        if what not in self._said:
            self._said.add(what)
            _say(message)

    # -- flushing ------------------------------------------------------------------------

    def flush(self, timeout: float) -> None:
        """Send what is waiting now, within ``timeout`` seconds.

        Raises:
            TrackingError: the other end could not be reached, failed or refused a batch.
        """
        with self._state:
            self._asked += 1
            ticket = self._asked
            self._wake.set()
            if not self._state.wait_for(lambda: self._served >= ticket, timeout):
                raise TrackingError(
                    f"could not send the waiting records to {self.transport.where} within "
                    f"{timeout:g} s: {self._reason or 'it did not answer'}"
                )
            error = self._error
        if error is not None:
            raise TrackingError(error)

    def close(self, quiet_seconds: float) -> None:
        """Send the rest at exit, trying again while batches are taken; give up once none
        was taken for ``quiet_seconds`` (or after ten times that in all), saying how many
        records were not sent."""
        started = time.monotonic()
        pause = 0.5
        while self.metrics or self._params:
            now = time.monotonic()
            left = min(
                max(self._taken_at, started) + quiet_seconds - now,
                started + 10 * quiet_seconds - now,
            )
            if left <= 0:
                break
            try:
                self.flush(left)
            except TrackingError:
                time.sleep(max(0.0, min(pause, left)))
                pause = min(pause * 2, MAX_BACKOFF)
            else:
                break
        waiting = {"metric": len(self.metrics), "param": len(self._params)}
        lost = {kind: self.lost[kind] + waiting[kind] for kind in waiting}
        if any(lost.values()):
            _say(
                f"{lost['metric']} metrics and {lost['param']} params of this process were "
                f"not recorded by {self.transport.where}"
                + (f" ({self._reason})" if self._reason else "")
            )

    # -- the sending thread --------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while True:
            self._wake.wait(FLUSH_SECONDS if not failures else _backoff(failures))
            self._wake.clear()
            self._backing_off = False
            with self._state:
                ticket = self._asked
            try:
                self._send_all()
            except TransientError as exc:
                failures += 1
                self._backing_off = True
                self._reason = str(exc)
                error: str | None = str(exc)
                self._say_once(
                    "unreachable",
                    f"{exc}; records are kept (at most {MAX_BUFFER} of each kind) and sent "
                    "when it answers again; training goes on",
                )
            except Exception as exc:  # a bug here must not stop the sending for good
                failures += 1
                error = f"sending failed: {type(exc).__name__}: {exc}"
            else:
                failures, error = 0, self._refused
                self._refused = None
            with self._state:
                self._served, self._error = ticket, error
                self._state.notify_all()

    def _send_all(self) -> None:
        """Send what is waiting now, batch by batch; :class:`TransientError` when the other
        end cannot take a batch now (it stays waiting).

        Records added while it sends wait for the next round: chasing them would send a
        request for every few records of a busy training loop.
        """
        for queue, buffer in (("param", self._params), ("metric", self.metrics)):
            waiting = len(buffer)
            while waiting > 0:
                with self._trim:
                    base = self._removed[queue]
                    batch = buffer[: min(waiting, BATCH_SIZE)]
                if not batch:
                    break
                outcome = self.transport.send(queue, self.experiment_id, self.worker, batch)
                self._taken_at = time.monotonic()
                count = max(1, min(outcome.taken, len(batch)))
                with self._trim:
                    gone = min(self._removed[queue] - base, count)  # dropped meanwhile
                    sent = max(0, count - gone)
                    del buffer[:sent]
                    self._removed[queue] += sent
                    # The dropped ones were counted lost already; those of them that were
                    # recorded after all are not.
                    self.lost[queue] += min(outcome.lost, count) - gone
                waiting -= count
                if outcome.reason is not None:
                    self._refused = outcome.reason
                    self._say_once("refused", f"{outcome.reason}; training goes on")


def _backoff(failures: int) -> float:
    """The pause after ``failures`` failed rounds in a row: doubling, with jitter."""
    pause: float = min(MAX_BACKOFF, 0.5 * 2.0 ** min(failures - 1, 10))
    return pause * random.uniform(0.8, 1.0)

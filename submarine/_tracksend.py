"""The replica side of tracking: a bounded buffer and the thread that sends it to the server.

Training never waits for the network and never fails because of it. Records go to a
buffer that a background thread sends in batches (every :data:`FLUSH_SECONDS`, or as soon
as :data:`BATCH_SIZE` are waiting). What the server cannot take now is kept and tried again:

* a server that cannot be reached, a timeout, or an answer of 408, 429, 502, 503 or 504 is
  retried with backoff (half a second, doubling, at most :data:`MAX_BACKOFF`); other server
  errors are retried twice more, then the batch is given up;
* a batch the server refuses (a 4xx: a bad record, the experiment deleted, its quota full)
  is given up at once;
* past :data:`MAX_BUFFER` waiting records the oldest are dropped.

Records given up or dropped are counted, and said once on stderr (then again, in total, at
exit); training goes on. A request has :data:`REQUEST_SECONDS` in all, however slowly a
server answers. At exit the rest is sent, giving up once no batch has been taken for
``SUBMARINE_TRACKING_EXIT_TIMEOUT`` seconds (:data:`EXIT_SECONDS` by default): a server
that is gone or drips its answers never keeps a finished training process alive.

Standard library only: a training process imports it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
from typing import Any, Final
from urllib.parse import urlsplit

from submarine.models.trackwire import (
    URI_ENV,
    MetricRecord,
    ParamRecord,
    encode_metrics,
    encode_params,
)

__all__ = [
    "BATCH_SIZE",
    "EXIT_ENV",
    "EXIT_SECONDS",
    "FLUSH_SECONDS",
    "MAX_BACKOFF",
    "MAX_BODY",
    "MAX_BUFFER",
    "REQUEST_SECONDS",
    "Sender",
    "TrackingError",
]

BATCH_SIZE: Final = 5000
"""Records that wake the sender at once; a request carries at most this many."""
FLUSH_SECONDS: Final = 1.0
"""The longest a record waits in the buffer before it is sent."""
MAX_BODY: Final = 900_000
"""The largest request body sent (the local server accepts 1 MiB by default)."""
MAX_BUFFER: Final = 1_000_000
"""Records of each kind kept while the server cannot take them; past this, the oldest are
dropped (counted, and said once)."""
MAX_BACKOFF: Final = 10.0
"""The longest pause between two tries of a server that cannot be reached."""
REQUEST_SECONDS: Final = 30.0
"""The longest one request may take, however slowly the server answers."""
EXIT_ENV: Final = "SUBMARINE_TRACKING_EXIT_TIMEOUT"
"""Seconds without a batch taken after which the final flush at exit gives up."""
EXIT_SECONDS: Final = 10.0
"""The default of :data:`EXIT_ENV`."""
_TIMEOUT: Final = 10.0
"""The longest one socket operation waits."""
_RETRIED: Final = frozenset({408, 429, 502, 503, 504})
"""Answers that say: try again later."""
_SERVER_ERRORS_TRIED: Final = 3
"""How many times a batch is sent that the server fails with another 5xx."""


class TrackingError(RuntimeError):
    """Metrics or params cannot be recorded: not in a replica, or (from :func:`flush`) the
    server cannot be reached or refused them."""


class _TransientError(Exception):
    """The server cannot take the batch now: try again later."""


class _Watchdog:
    """Cuts a request that outlasts its deadline (a server that drips its answer would
    keep a socket operation's timeout from ever firing). One thread, asleep when no
    request is in flight."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._connection: http.client.HTTPConnection | None = None
        self._deadline = 0.0
        self._thread = threading.Thread(target=self._run, name="submarine-tracking-watch")
        self._thread.daemon = True
        self._thread.start()

    def arm(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        """Watch ``connection`` for ``seconds``."""
        with self._state:
            self._connection, self._deadline = connection, time.monotonic() + seconds
            self._state.notify()

    def disarm(self) -> None:
        """The request is over."""
        with self._state:
            self._connection = None

    def _run(self) -> None:
        with self._state:
            while True:
                if self._connection is None:
                    self._state.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._state.wait(left)
                    continue
                sock = self._connection.sock
                self._connection = None
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


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
    """The buffer of one process and the thread that empties it into the server.

    Args:
        uri: the server (``SUBMARINE_TRACKING_URI``).
        token: the replica's tracking credential, or None.
        experiment_id: whose records these are.
        worker: the replica's worker index.
    """

    def __init__(self, uri: str, token: str | None, experiment_id: str, worker: str) -> None:
        self.experiment_id = experiment_id
        self.worker = worker
        self._url = urlsplit(uri.rstrip("/"))
        if self._url.scheme not in ("http", "https") or not self._url.hostname:
            raise TrackingError(f"{URI_ENV} must be an http(s) URL of a server, got {uri!r}")
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
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
        self._server_errors = 0
        self._connection: http.client.HTTPConnection | None = None
        self._watchdog = _Watchdog()
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
            f"{MAX_BUFFER} {kind}s are waiting for the server at {self._url.geturl()} "
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
            TrackingError: the server could not be reached, failed or refused a batch.
        """
        with self._state:
            self._asked += 1
            ticket = self._asked
            self._wake.set()
            if not self._state.wait_for(lambda: self._served >= ticket, timeout):
                raise TrackingError(
                    f"could not send the waiting records to {self._url.geturl()} within "
                    f"{timeout:g} s: {self._reason or 'the server did not answer'}"
                )
            error = self._error
        if error is not None:
            raise TrackingError(error)

    def close(self, quiet_seconds: float) -> None:
        """Send the rest at exit, trying again while the server takes batches; give up once
        none was taken for ``quiet_seconds`` (or after ten times that in all), saying how
        many records were not sent."""
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
                f"not recorded by the server at {self._url.geturl()}"
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
            except _TransientError as exc:
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
        """Send what is waiting now, batch by batch; :class:`_TransientError` when the server
        cannot take a batch now (it stays waiting).

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
                count = len(batch)
                body = self._body(queue, batch)
                while len(body) > MAX_BODY and count > 1:  # long keys: fewer a request
                    count //= 2
                    body = self._body(queue, batch[:count])
                refusal = self._post(queue, body, count)
                with self._trim:
                    gone = self._removed[queue] - base  # dropped from the front meanwhile
                    sent = max(0, count - gone)
                    del buffer[:sent]
                    self._removed[queue] += sent
                    if refusal is not None:
                        self.lost[queue] += sent
                    else:
                        self.lost[queue] -= min(gone, count)  # dropped, yet sent
                waiting -= count
                if refusal is not None:
                    self._refused = refusal
                    self._say_once("refused", f"{refusal}; training goes on")

    def _body(self, queue: str, batch: list[Any]) -> bytes:
        """A batch body of the tracking contract: the experiment and worker once, then the
        records (metrics in columns)."""
        encode = encode_params if queue == "param" else encode_metrics
        return encode(self.experiment_id, self.worker, batch)

    def _post(self, queue: str, body: bytes, count: int) -> str | None:
        """Send one batch: None when it was taken, the reason when it was refused (given
        up); :class:`_TransientError` when it may be taken later."""
        path = f"{self._url.path}/api/{queue}/add"
        url = f"{self._url.scheme}://{self._url.netloc}{path}"
        try:
            status, answer = self._request(path, body)
        except (OSError, http.client.HTTPException) as exc:
            raise _TransientError(
                f"cannot send {count} {queue}s to {url}: {exc or type(exc).__name__} "
                "(is the Submarine server that started this replica still running?)"
            ) from exc
        if status < 300:
            self._taken_at = time.monotonic()
            self._server_errors = 0
            return None
        try:
            message = json.loads(answer).get("message")
        except (ValueError, AttributeError):
            message = answer[:200].decode("utf-8", "replace")
        reason = f"the server refused {count} {queue}s ({status}): {message}"
        if status in _RETRIED:
            raise _TransientError(reason)
        if status >= 500:
            self._server_errors += 1
            if self._server_errors < _SERVER_ERRORS_TRIED:
                raise _TransientError(reason)
        self._server_errors = 0
        return reason

    def _request(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST over a kept-alive connection; a kept connection the server has closed in
        the meantime is replaced once. The whole exchange has :data:`REQUEST_SECONDS`."""
        while True:
            connection, kept = self._connection, self._connection is not None
            if connection is None:
                kind = (
                    http.client.HTTPSConnection
                    if self._url.scheme == "https"
                    else http.client.HTTPConnection
                )
                connection = kind(self._url.hostname or "", self._url.port, timeout=_TIMEOUT)
            self._connection = None
            self._watchdog.arm(connection, REQUEST_SECONDS)
            try:
                connection.request("POST", path, body=body, headers=self._headers)
                response = connection.getresponse()
                answer = response.read()
            except (ConnectionError, http.client.RemoteDisconnected):
                connection.close()
                if kept:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            finally:
                self._watchdog.disarm()
            if not response.will_close:
                self._connection = connection
            else:
                connection.close()
            return response.status, answer


def _backoff(failures: int) -> float:
    """The pause after ``failures`` failed rounds in a row: doubling, with jitter."""
    pause: float = min(MAX_BACKOFF, 0.5 * 2.0 ** min(failures - 1, 10))
    return pause * random.uniform(0.8, 1.0)

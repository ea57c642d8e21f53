"""Experiment tracking: ``log_metric`` and ``log_param``, Submarine's SDK names.

Inside a replica started by a Submarine local server, calls are recorded against the
experiment (``JOB_ID``) and the worker (``TF_CONFIG``'s task as ``worker-0``/``ps-1``, else
torch's or xgboost's ``RANK`` as ``worker-N``), and sent to the server at
``SUBMARINE_TRACKING_URI`` with ``SUBMARINE_TRACKING_TOKEN``, a credential that can only add
metrics and params to that one experiment.

Calls never wait for the network: records go to a buffer that a background thread sends in
batches (every :data:`FLUSH_SECONDS`, or as soon as :data:`BATCH_SIZE` are waiting), and the
rest is sent when the process exits. A batch the server refuses, or a server that cannot be
reached, makes the *next* call raise :class:`TrackingError` with the reason; :func:`flush`
sends what is waiting and raises at once.

Outside a replica, calls raise :class:`TrackingError`, unless records are to go to a file:
set ``SUBMARINE_TRACKING_FILE`` (or call :func:`track_to_file`) and each record is appended
to it as one JSON line.

>>> import submarine
>>> submarine.log_param("learning_rate", 0.01)          # doctest: +SKIP
>>> for step in range(100):                             # doctest: +SKIP
...     submarine.log_metric("loss", 1.0 / (step + 1), step=step)
"""

from __future__ import annotations

import atexit
import http.client
import json
import math
import operator
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from time import time_ns as _time_ns
from typing import Any, Final
from urllib.parse import urlsplit

from submarine.models.trackwire import (
    MAX_KEY,
    MAX_STEP,
    MAX_TEXT,
    NO_STEP,
    TOKEN_ENV,
    URI_ENV,
    MetricRecord,
    ParamRecord,
    encode_metrics,
    encode_params,
)

__all__ = [
    "BATCH_SIZE",
    "FLUSH_SECONDS",
    "MAX_KEY",
    "MAX_TEXT",
    "NO_STEP",
    "TrackingError",
    "flush",
    "log_metric",
    "log_param",
    "track_to_file",
    "worker_index",
]

FILE_ENV: Final = "SUBMARINE_TRACKING_FILE"
"""A file to append records to instead of sending them (set by the user)."""
BATCH_SIZE: Final = 5000
"""Records that wake the sender at once; a request carries at most this many."""
FLUSH_SECONDS: Final = 1.0
"""The longest a record waits in the buffer before it is sent."""
MAX_BODY: Final = 900_000
"""The largest request body sent (the local server accepts 1 MiB by default)."""
MAX_BUFFER: Final = 1_000_000
"""Records kept while the server cannot be reached; past this, calls raise."""
_TIMEOUT: Final = 10.0


class TrackingError(RuntimeError):
    """Metrics or params cannot be recorded: not in a replica, or the server refused them."""


def worker_index(environ: Mapping[str, str] | None = None) -> str:
    """The replica's name for tracking: ``TF_CONFIG``'s task (``worker-0``, ``ps-1``), else
    ``worker-<RANK>`` (PyTorch, XGBoost), else ``worker-0``.

    >>> worker_index({"TF_CONFIG": '{"task": {"type": "ps", "index": 1}}'})
    'ps-1'
    >>> worker_index({"RANK": "2"})
    'worker-2'
    """
    env = os.environ if environ is None else environ
    config = env.get("TF_CONFIG")
    if config:
        try:
            task = json.loads(config).get("task") or {}
            return f"{task['type']}-{int(task['index'])}"
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    rank = env.get("RANK", "").strip()
    return f"worker-{int(rank)}" if rank.isdigit() else "worker-0"


class _Sender:
    """The buffer of one process and the thread that empties it into the server."""

    def __init__(self, uri: str, token: str | None, experiment_id: str, worker: str) -> None:
        self.experiment_id = experiment_id
        self.worker = worker
        self._url = urlsplit(uri.rstrip("/"))
        if self._url.scheme not in ("http", "https") or not self._url.hostname:
            raise TrackingError(f"{URI_ENV} must be an http(s) URL of a server, got {uri!r}")
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        # Lists, appended to by the training threads and emptied from the front by the
        # sender; each append and each deletion is one atomic step.
        self.metrics: list[MetricRecord] = []
        """Metric records waiting: (key, value, step, timestamp)."""
        self._params: list[ParamRecord] = []
        self._wake = threading.Event()
        self._sending = threading.Lock()  # one batch in flight at a time
        self._error: str | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="submarine-tracking", daemon=True)
        self._thread.start()

    def metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        if self._error is not None:
            self._raise()
        metrics = self.metrics
        if len(metrics) >= BATCH_SIZE:
            if len(metrics) >= MAX_BUFFER:
                raise self._full()
            if not self._wake.is_set():
                self._wake.set()
        metrics.append((key, value, step, timestamp))

    def param(self, key: str, value: str) -> None:
        if self._error is not None:
            self._raise()
        if len(self._params) >= MAX_BUFFER:
            raise self._full()
        self._params.append((key, value))

    @property
    def failed(self) -> bool:
        """Whether a batch failed and the next call must raise."""
        return self._error is not None

    def _raise(self) -> None:
        error, self._error = self._error, None
        raise TrackingError(error)

    def _full(self) -> TrackingError:
        return TrackingError(
            f"{MAX_BUFFER} records are waiting for the server at {self._url.geturl()}: "
            "it cannot keep up or cannot be reached"
        )

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.send()
            except TrackingError as exc:
                self._error = str(exc)
                _use_fast_path(None)  # the next call takes the slow path, which raises

    def send(self) -> None:
        """Send what is waiting now, batch by batch; raise on the first refused batch.

        Records added while it sends wait for the next round: chasing them would send a
        request for every few records of a busy training loop.
        """
        with self._sending:
            for queue, buffer in (("param", self._params), ("metric", self.metrics)):
                waiting = len(buffer)
                while waiting:
                    count = min(waiting, BATCH_SIZE)
                    body = self._body(queue, buffer[:count])
                    while len(body) > MAX_BODY and count > 1:  # long keys: fewer a request
                        count //= 2
                        body = self._body(queue, buffer[:count])
                    self._post(queue, body, count)
                    del buffer[:count]
                    waiting -= count

    def _body(self, queue: str, batch: list[Any]) -> bytes:
        """A batch body of the tracking contract: the experiment and worker once, then the
        records (metrics in columns)."""
        encode = encode_params if queue == "param" else encode_metrics
        return encode(self.experiment_id, self.worker, batch)

    def _post(self, queue: str, body: bytes, count: int) -> None:
        path = f"{self._url.path}/api/{queue}/add"
        url = f"{self._url.scheme}://{self._url.netloc}{path}"
        try:
            status, answer = self._request(path, body)
        except (OSError, http.client.HTTPException) as exc:
            raise TrackingError(
                f"cannot send {count} {queue}s to {url}: {exc or type(exc).__name__} "
                "(is the Submarine server that started this replica still running?)"
            ) from exc
        if status >= 300:
            try:
                message = json.loads(answer).get("message")
            except (ValueError, AttributeError):
                message = answer[:200].decode("utf-8", "replace")
            raise TrackingError(f"the server refused {count} {queue}s: {message}")

    def _request(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST over a kept-alive connection; a kept connection the server has closed in
        the meantime is replaced once."""
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
            if not response.will_close:
                self._connection = connection
            else:
                connection.close()
            return response.status, answer


class _FileWriter:
    """Appends records to a JSON-lines file."""

    def __init__(self, path: Path, experiment_id: str, worker: str) -> None:
        self.path = path
        self.experiment_id = experiment_id
        self.worker = worker
        self._lock = threading.Lock()

    def metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        finite = math.isfinite(value)
        self._write(
            "metric",
            key=key,
            value=value if finite else None,
            step=None if step == NO_STEP else step,
            timestamp=timestamp,
            isNan=not finite,
        )

    def param(self, key: str, value: str) -> None:
        self._write("param", key=key, value=value)

    def _write(self, kind: str, **fields: Any) -> None:
        record = {"kind": kind, "id": self.experiment_id, "workerIndex": self.worker, **fields}
        line = json.dumps(record) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)

    def send(self) -> None:
        return


_sink: _Sender | _FileWriter | None = None
_sink_lock = threading.Lock()
_fast: list[MetricRecord] | None = None
"""The sender's metric buffer while nothing needs saying: ``log_metric`` appends to it
directly (the call is most of what tracking costs a training loop)."""


def _use_fast_path(buffer: list[MetricRecord] | None) -> None:
    global _fast
    _fast = buffer


def track_to_file(path: str | os.PathLike[str] | None) -> None:
    """Append every later record to ``path`` as a JSON line instead of sending it (the
    same as setting ``SUBMARINE_TRACKING_FILE``); ``None`` goes back to the environment.

    :param path: the file to append to (created when missing), or None.
    """
    global _sink
    with _sink_lock:
        _use_fast_path(None)
        if _sink is not None:
            _sink.send()
        _sink = None if path is None else _file_sink(Path(path), os.environ)


def _file_sink(path: Path, env: Mapping[str, str]) -> _FileWriter:
    return _FileWriter(path, env.get("JOB_ID") or "local", worker_index(env))


def _open_sink() -> _Sender | _FileWriter:
    env = os.environ
    if env.get(FILE_ENV):
        return _file_sink(Path(env[FILE_ENV]), env)
    experiment_id, uri = env.get("JOB_ID"), env.get(URI_ENV)
    if not experiment_id or not uri:
        missing = " and ".join(name for name in ("JOB_ID", URI_ENV) if not env.get(name))
        raise TrackingError(
            f"not inside a Submarine replica ({missing} not set): metrics and params are "
            f"recorded for experiments a Submarine server runs; set {FILE_ENV}=<path> "
            "(or call submarine.tracking.track_to_file) to write them to a file instead"
        )
    sender = _Sender(uri, env.get(TOKEN_ENV), experiment_id, worker_index(env))
    atexit.register(_flush_at_exit)
    return sender


def _sink_now() -> _Sender | _FileWriter:
    global _sink
    sink = _sink
    if sink is None:
        with _sink_lock:
            if _sink is None:
                _sink = _open_sink()
            sink = _sink
    return sink


def _flush_at_exit() -> None:
    sink = _sink
    if sink is None:
        return
    try:
        sink.send()
    except TrackingError as exc:
        print(f"submarine tracking: {exc}", file=sys.stderr, flush=True)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric's value (at a training step) for this experiment and worker.

    Returns at once; the value is sent in a batch within :data:`FLUSH_SECONDS`.

    :param key: the metric's name, e.g. ``"loss"``.
    :param value: a number (NaN and infinities are recorded as NaN).
    :param step: the training step (default: none).
    :raises TrackingError: outside a replica, or when an earlier batch was refused.
    """
    if type(key) is not str or not key or len(key) > MAX_KEY:
        raise _bad_key(key, "loss")
    if type(value) is not float:
        value = _number(key, value)
    if step is None:
        step = NO_STEP
    elif type(step) is not int or not -0x7FFFFFFFFFFFFFFF <= step <= 0x7FFFFFFFFFFFFFFF:
        step = _whole(key, step)
    buffer = _fast
    if buffer is not None and len(buffer) < BATCH_SIZE:
        buffer.append((key, value, step, _time_ns() // 1_000_000))
        return
    sink = _sink or _sink_now()
    sink.metric(key, value, step, _time_ns() // 1_000_000)  # raises what needs saying
    if isinstance(sink, _Sender) and sink is _sink:
        _use_fast_path(sink.metrics)
        if sink.failed:  # the sender failed meanwhile: its next call must say so
            _use_fast_path(None)


def _number(key: str, value: object) -> float:
    """A metric's value as a float: ints, numpy scalars, tensors with ``__float__``."""
    if isinstance(value, float):  # numpy's float64 is one already
        return value
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"value of metric {key!r} must be a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"value of metric {key!r} must be a number, got {value!r}") from None


def _whole(key: str, step: object) -> int:
    """A metric's step as an int of 64 bits (numpy's integers too)."""
    try:
        if isinstance(step, bool):
            raise TypeError
        whole = operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"step of metric {key!r} must be a whole number or None, got {step!r}"
        ) from None
    if not NO_STEP < whole <= MAX_STEP:
        raise ValueError(f"step of metric {key!r} must fit in 64 bits, got {whole}")
    return whole


def _bad_key(key: object, example: str) -> Exception:
    if isinstance(key, str) and key:
        return ValueError(
            f"key must be at most {MAX_KEY} characters, got {len(key)}: {key[:40]!r}..."
        )
    return TypeError(f"key must be a non-empty string like {example!r}, got {key!r}")


def log_param(key: str, value: object) -> None:
    """Record a parameter of this run (a learning rate, a batch size) for this worker.

    :param key: the parameter's name, e.g. ``"learning_rate"``.
    :param value: its value; recorded as text (``str(value)``).
    :raises TrackingError: outside a replica, or when an earlier batch was refused.
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise _bad_key(key, "learning_rate")
    text = str(value)
    if len(text) > MAX_TEXT:
        raise ValueError(
            f"value of param {key!r} must be at most {MAX_TEXT} characters as text, "
            f"got {len(text)}: {text[:40]!r}..."
        )
    (_sink or _sink_now()).param(key, text)


def flush() -> None:
    """Send every waiting record now.

    :raises TrackingError: outside a replica, or when the server refuses or cannot be reached.
    """
    _sink_now().send()

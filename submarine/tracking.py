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
import json
import math
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "BATCH_SIZE",
    "FLUSH_SECONDS",
    "TrackingError",
    "flush",
    "log_metric",
    "log_param",
    "track_to_file",
    "worker_index",
]

URI_ENV: Final = "SUBMARINE_TRACKING_URI"
"""Where the server that started the replica listens (set by the server)."""
TOKEN_ENV: Final = "SUBMARINE_TRACKING_TOKEN"
"""The replica's tracking credential (set by the server)."""
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
_METRIC_FIELDS: Final = ("key", "value", "step", "timestamp")
"""A metric row of a compact batch (value null for NaN)."""
_PARAM_FIELDS: Final = ("key", "value")
"""A param row of a compact batch."""


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
        self._base = uri.rstrip("/")
        self._token = token
        self._metrics: deque[tuple[Any, ...]] = deque()
        self._params: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one batch in flight at a time
        self._error: str | None = None
        self._client: Any = None
        self._thread = threading.Thread(target=self._run, name="submarine-tracking", daemon=True)
        self._thread.start()

    def add(self, queue: str, record: tuple[Any, ...]) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise TrackingError(error)
        buffer = self._metrics if queue == "metric" else self._params
        if len(buffer) >= MAX_BUFFER:
            raise TrackingError(
                f"{MAX_BUFFER} records are waiting for the server at {self._base}: "
                "it cannot keep up or cannot be reached"
            )
        buffer.append(record)
        if len(buffer) >= BATCH_SIZE and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.send()
            except TrackingError as exc:
                self._error = str(exc)

    def send(self) -> None:
        """Send everything waiting, batch by batch; raise on the first refused batch."""
        with self._lock:
            for queue, buffer in (("param", self._params), ("metric", self._metrics)):
                while buffer:
                    count = min(len(buffer), BATCH_SIZE)
                    body = self._body(queue, [buffer[i] for i in range(count)])
                    while len(body) > MAX_BODY and count > 1:  # long keys: fewer a request
                        count //= 2
                        body = self._body(queue, [buffer[i] for i in range(count)])
                    self._post(queue, body, count)
                    for _ in range(count):
                        buffer.popleft()

    def _body(self, queue: str, batch: list[tuple[Any, ...]]) -> bytes:
        """The server's compact batch: the experiment and worker once, then a row a record."""
        document = {"id": self.experiment_id, "workerIndex": self.worker, f"{queue}s": batch}
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    def _post(self, queue: str, body: bytes, count: int) -> None:
        import httpx  # here: ``import submarine`` stays cheap

        url = f"{self._base}/api/{queue}/add"
        if self._client is None:
            headers = {"Content-Type": "application/json"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            # No Nagle: a body sent after its headers must not wait for the delayed ACK.
            nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            transport = httpx.HTTPTransport(socket_options=nodelay)
            self._client = httpx.Client(
                headers=headers, timeout=_TIMEOUT, trust_env=False, transport=transport
            )
        try:
            response = self._client.post(url, content=body)
        except httpx.HTTPError as exc:
            raise TrackingError(
                f"cannot send {count} {queue}s to {url}: {exc} "
                "(is the Submarine server that started this replica still running?)"
            ) from exc
        if response.status_code >= 300:
            try:
                message = response.json().get("message")
            except ValueError:
                message = response.text[:200]
            raise TrackingError(f"the server refused {count} {queue}s: {message}")


class _FileWriter:
    """Appends records to a JSON-lines file."""

    def __init__(self, path: Path, experiment_id: str, worker: str) -> None:
        self.path = path
        self.experiment_id = experiment_id
        self.worker = worker
        self._lock = threading.Lock()

    def add(self, queue: str, record: tuple[Any, ...]) -> None:
        names = _METRIC_FIELDS if queue == "metric" else _PARAM_FIELDS
        fields: dict[str, Any] = {"id": self.experiment_id, "workerIndex": self.worker}
        fields.update(zip(names, record, strict=True))
        if queue == "metric":
            fields["isNan"] = fields["value"] is None
        line = json.dumps({"kind": queue, **fields}) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)

    def send(self) -> None:
        return


_sink: _Sender | _FileWriter | None = None
_sink_lock = threading.Lock()


def track_to_file(path: str | os.PathLike[str] | None) -> None:
    """Append every later record to ``path`` as a JSON line instead of sending it (the
    same as setting ``SUBMARINE_TRACKING_FILE``); ``None`` goes back to the environment.

    :param path: the file to append to (created when missing), or None.
    """
    global _sink
    with _sink_lock:
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
        import sys

        print(f"submarine tracking: {exc}", file=sys.stderr, flush=True)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric's value (at a training step) for this experiment and worker.

    Returns at once; the value is sent in a batch within :data:`FLUSH_SECONDS`.

    :param key: the metric's name, e.g. ``"loss"``.
    :param value: a number (NaN and infinities are recorded as NaN).
    :param step: the training step (default: none).
    :raises TrackingError: outside a replica, or when an earlier batch was refused.
    """
    if type(key) is not str or not key:
        raise TypeError(f"key must be a non-empty string like 'loss', got {key!r}")
    if type(value) is not float:  # numpy scalars, ints, tensors with __float__
        if isinstance(value, (bool, str, bytes)):
            raise TypeError(f"value of metric {key!r} must be a number, got {value!r}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"value of metric {key!r} must be a number, got {value!r}") from None
    if step is not None and type(step) is not int:
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step of metric {key!r} must be a whole number or None, got {step!r}")
        step = int(step)
    sink = _sink or _sink_now()
    number = value if math.isfinite(value) else None
    sink.add("metric", (key, number, step, time.time_ns() // 1_000_000))


def log_param(key: str, value: object) -> None:
    """Record a parameter of this run (a learning rate, a batch size) for this worker.

    :param key: the parameter's name, e.g. ``"learning_rate"``.
    :param value: its value; recorded as text (``str(value)``).
    :raises TrackingError: outside a replica, or when an earlier batch was refused.
    """
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty string like 'learning_rate', got {key!r}")
    (_sink or _sink_now()).add("param", (key, str(value)))


def flush() -> None:
    """Send every waiting record now.

    :raises TrackingError: outside a replica, or when the server refuses or cannot be reached.
    """
    _sink_now().send()

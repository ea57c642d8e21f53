"""Experiment tracking: ``log_metric`` and ``log_param``, Submarine's SDK names.

Inside a replica started by a Submarine local server, calls are recorded against the
experiment (``JOB_ID``) and the worker (``TF_CONFIG``'s task as ``worker-0``/``ps-1``, else
torch's or xgboost's ``RANK`` as ``worker-N``), and sent to the server at
``SUBMARINE_TRACKING_URI`` with ``SUBMARINE_TRACKING_TOKEN``, a credential that can only add
metrics and params to that one experiment.

Calls never wait for the network, and never fail because of it: records go to a bounded
buffer that a background thread sends in batches (every :data:`FLUSH_SECONDS`, or as soon
as :data:`BATCH_SIZE` are waiting), trying again with backoff while the server cannot be
reached; what it cannot send is counted and said once on stderr (see
:mod:`submarine._tracksend`). ``log_metric`` and ``log_param`` raise only for a bad key or
value. :func:`flush` sends what is waiting and raises if it cannot. At exit the rest is
sent, giving up once the server took nothing for ``SUBMARINE_TRACKING_EXIT_TIMEOUT``
seconds (10 by default), so the process always exits.

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
import operator
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from time import time_ns as _time_ns
from typing import Any, Final

from submarine._tracksend import (
    BATCH_SIZE,
    EXIT_ENV,
    FLUSH_SECONDS,
    MAX_BUFFER,
    Sender,
    TrackingError,
    exit_seconds,
)
from submarine.models.trackwire import (
    MAX_KEY,
    MAX_STEP,
    MAX_TEXT,
    MAX_WORKER,
    NO_STEP,
    TOKEN_ENV,
    URI_ENV,
    MetricRecord,
    is_text,
)

__all__ = [
    "BATCH_SIZE",
    "EXIT_ENV",
    "FLUSH_SECONDS",
    "FLUSH_TIMEOUT",
    "MAX_BUFFER",
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
FLUSH_TIMEOUT: Final = 30.0
"""How long :func:`flush` waits for the server by default, in seconds."""


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

    def flush(self, timeout: float) -> None:
        """Nothing waits: every record is written at once."""
        return


_sink: Sender | _FileWriter | None = None
_sink_lock = threading.Lock()
_fast: list[MetricRecord] | None = None
"""The sender's metric buffer: ``log_metric`` appends to it directly while it holds fewer
than :data:`BATCH_SIZE` (the call is most of what tracking costs a training loop)."""


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
            try:
                _sink.flush(FLUSH_TIMEOUT)
            except TrackingError as exc:
                print(f"submarine tracking: {exc}", file=sys.stderr, flush=True)
        _sink = None if path is None else _file_sink(Path(path), os.environ)


def _file_sink(path: Path, env: Mapping[str, str]) -> _FileWriter:
    return _FileWriter(path, env.get("JOB_ID") or "local", worker_index(env))


def _open_sink() -> Sender | _FileWriter:
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
    worker = worker_index(env)
    if len(worker) > MAX_WORKER or not is_text(worker):
        raise TrackingError(
            f"this replica's worker index {worker[:80]!r} (from TF_CONFIG's task) is not a "
            f"name of at most {MAX_WORKER} characters like 'worker-0'"
        )
    sender = Sender(uri, env.get(TOKEN_ENV), experiment_id, worker)
    atexit.register(_flush_at_exit)
    return sender


def _sink_now() -> Sender | _FileWriter:
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
    if isinstance(sink, Sender):
        sink.close(exit_seconds())


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric's value (at a training step) for this experiment and worker.

    Returns at once; the value is sent in a batch within :data:`FLUSH_SECONDS`.

    :param key: the metric's name, e.g. ``"loss"``.
    :param value: a number (NaN and infinities are recorded as NaN).
    :param step: the training step (default: none).
    :raises TypeError, ValueError: a bad key, value or step (never because of the server).
    :raises TrackingError: outside a replica.
    """
    if (
        type(key) is not str or not key or len(key) > MAX_KEY or not key.isascii()
    ) and not _good_key(key):
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
    sink.metric(key, value, step, _time_ns() // 1_000_000)
    if isinstance(sink, Sender) and sink is _sink:
        _use_fast_path(sink.metrics)


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


def _good_key(key: object) -> bool:
    return type(key) is str and 0 < len(key) <= MAX_KEY and is_text(key)


def _bad_key(key: object, example: str) -> Exception:
    if isinstance(key, str) and key and len(key) > MAX_KEY:
        return ValueError(
            f"key must be at most {MAX_KEY} characters, got {len(key)}: {key[:40]!r}..."
        )
    if isinstance(key, str) and key:
        return ValueError(f"key must be Unicode text (no lone surrogate), got {key!r}")
    return TypeError(f"key must be a non-empty string like {example!r}, got {key!r}")


def log_param(key: str, value: object) -> None:
    """Record a parameter of this run (a learning rate, a batch size) for this worker.

    :param key: the parameter's name, e.g. ``"learning_rate"``.
    :param value: its value; recorded as text (``str(value)``).
    :raises TypeError, ValueError: a bad key or value (never because of the server).
    :raises TrackingError: outside a replica.
    """
    if not isinstance(key, str) or not _good_key(str(key)):
        raise _bad_key(key, "learning_rate")
    text = str(value)
    if len(text) > MAX_TEXT:
        raise ValueError(
            f"value of param {key!r} must be at most {MAX_TEXT} characters as text, "
            f"got {len(text)}: {text[:40]!r}..."
        )
    if not is_text(text):
        raise ValueError(f"value of param {key!r} must be Unicode text, got {text[:40]!r}")
    (_sink or _sink_now()).param(str(key), text)


def flush(timeout: float = FLUSH_TIMEOUT) -> None:
    """Send every waiting record now, waiting at most ``timeout`` seconds.

    :param timeout: how long to wait for the server.
    :raises TrackingError: outside a replica, or when the server refuses a batch, fails,
        cannot be reached or does not answer in time (the records it did not take stay
        waiting, and are tried again).
    """
    _sink_now().flush(timeout)

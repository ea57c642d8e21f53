"""Experiment tracking: ``log_metric`` and ``log_param``, Submarine's SDK names, with
Submarine 0.8.0's semantics.

Calls are recorded against the experiment (``JOB_ID``) and the worker (0.8.0's rule:
``TF_CONFIG``'s task as ``worker-0``/``ps-1``, else TonY's ``CLUSTER_SPEC`` task, else
``RANK``: ``0`` is ``master-0``, ``N`` is ``worker-N``; else ``worker-0``). A metric
without a step has step 0. Keys follow 0.8.0's rule: letters, digits, ``_``, ``-``, ``.``,
spaces and ``/``, as a normalized path (not ``.``, no leading ``/`` or ``..``); a param's
key and value (as text) are at most 250 characters. NaN is recorded with ``isNan`` true,
and each value reads back as it was logged (NaN as NaN, infinities as infinities).

Where records go (the first that is given):

* the database of :func:`set_db_uri` (``submarine.set_db_uri``);
* ``SUBMARINE_TRACKING_URI``: in a replica of the local server, that server's address,
  with ``SUBMARINE_TRACKING_TOKEN``, a credential that can only add metrics and params to
  its one experiment; in a pod of Submarine 0.8.0, its MySQL database
  (``mysql+pymysql://...``), whose ``metric`` and ``param`` tables get 0.8.0's rows
  (:mod:`submarine._trackdb`; ``pip install 'submarine-sdk[tracking-db]'``);
* ``SUBMARINE_DB_URI``.

Calls never wait for the network, and never fail because of it: records go to a bounded
buffer that a background thread sends in batches (every :data:`FLUSH_SECONDS`, or as soon
as :data:`BATCH_SIZE` are waiting), trying again with backoff while the server or database
cannot be reached; what it cannot record is counted and said once on stderr (see
:mod:`submarine._tracksend`). ``log_metric`` and ``log_param`` raise only for a bad key or
value. :func:`flush` sends what is waiting and raises if it cannot. At exit the rest is
sent, giving up once nothing was taken for ``SUBMARINE_TRACKING_EXIT_TIMEOUT`` seconds (10
by default), so the process always exits.

Outside a replica, calls raise :class:`TrackingError`, unless records are to go to a file:
set ``SUBMARINE_TRACKING_FILE`` (or call :func:`track_to_file`) and each record is appended
to it as one JSON line.

:class:`SubmarineClient` records a metric or param of any experiment and worker at once.

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
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from time import time_ns as _time_ns
from typing import Any, Final

import submarine._trackdb as _trackdb
from submarine._trackclient import SubmarineClient, checked_key, target_uri, transport_for
from submarine._trackdb import DB_URI_ENV, get_db_uri
from submarine._trackrules import MAX_PARAM_TEXT, metric_step, metric_value, param_text
from submarine._trackrules import worker_index as _worker_index
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
    MAX_WORKER,
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
    "MAX_PARAM_TEXT",
    "SubmarineClient",
    "TrackingError",
    "flush",
    "get_db_uri",
    "log_metric",
    "log_param",
    "set_db_uri",
    "track_to_file",
    "worker_index",
]

FILE_ENV: Final = "SUBMARINE_TRACKING_FILE"
"""A file to append records to instead of sending them (set by the user)."""
FLUSH_TIMEOUT: Final = 30.0
"""How long :func:`flush` waits for the server by default, in seconds."""
_LARGEST: Final = sys.float_info.max
"""What an infinity is written as where JSON or a database column holds no infinity."""


def worker_index(environ: Mapping[str, str] | None = None) -> str:
    """The replica's name for tracking, by Submarine 0.8.0's rule: ``TF_CONFIG``'s task
    (``worker-0``, ``ps-1``), else ``CLUSTER_SPEC``'s (TonY), else ``RANK`` (``0`` is
    ``master-0``, ``N`` is ``worker-N``), else ``worker-0``.

    >>> worker_index({"TF_CONFIG": '{"task": {"type": "ps", "index": 1}}'})
    'ps-1'
    >>> worker_index({"RANK": "0"}), worker_index({"RANK": "2"})
    ('master-0', 'worker-2')
    """
    return _worker_index(os.environ if environ is None else environ)


class _FileWriter:
    """Appends records to a JSON-lines file."""

    def __init__(self, path: Path, experiment_id: str, worker: str) -> None:
        self.path = path
        self.experiment_id = experiment_id
        self.worker = worker
        self._lock = threading.Lock()

    def metric(self, key: str, value: float, step: int, timestamp: int) -> None:
        nan = math.isnan(value)
        self._write(
            "metric",
            key=key,
            value=0.0 if nan else max(-_LARGEST, min(_LARGEST, value)),
            step=step,
            timestamp=timestamp,
            isNan=nan,
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
    _switch(None if path is None else _file_sink(Path(path), os.environ))


def _file_sink(path: Path, env: Mapping[str, str]) -> _FileWriter:
    return _FileWriter(path, env.get("JOB_ID") or "local", worker_index(env))


def _open_sink() -> Sender | _FileWriter:
    env = os.environ
    if env.get(FILE_ENV):
        return _file_sink(Path(env[FILE_ENV]), env)
    experiment_id, uri = env.get("JOB_ID"), target_uri(env)
    if not experiment_id or not uri:
        missing = " and ".join(
            name for name, given in (("JOB_ID", experiment_id), (URI_ENV, uri)) if not given
        )
        raise TrackingError(
            f"not inside a Submarine replica ({missing} not set): metrics and params are "
            f"recorded for experiments a Submarine server runs; set {FILE_ENV}=<path> "
            "(or call submarine.tracking.track_to_file) to write them to a file instead, "
            f"or JOB_ID and submarine.set_db_uri(...) (or {DB_URI_ENV}) to write them to "
            "a Submarine 0.8.0 database"
        )
    worker = worker_index(env)
    if len(worker) > MAX_WORKER or not is_text(worker):
        raise TrackingError(
            f"this replica's worker index {worker[:80]!r} (from TF_CONFIG, CLUSTER_SPEC or "
            f"RANK) is not a name of at most {MAX_WORKER} characters like 'worker-0'"
        )
    sender = Sender(transport_for(uri, env), experiment_id, worker)
    atexit.register(lambda: sender.close(exit_seconds()))
    return sender


def _switch(sink: Sender | _FileWriter | None) -> None:
    """Use ``sink`` from now on (None: the one the environment says, on the next call),
    after sending what waits for the one in use."""
    global _sink
    with _sink_lock:
        _use_fast_path(None)
        if _sink is not None:
            try:
                _sink.flush(FLUSH_TIMEOUT)
            except TrackingError as exc:
                print(f"submarine tracking: {exc}", file=sys.stderr, flush=True)
        _sink = sink


def set_db_uri(uri: str | None) -> None:
    """Record metrics and params into the Submarine 0.8.0 database at ``uri`` from now on
    (before ``SUBMARINE_TRACKING_URI``), as 0.8.0's ``submarine.set_db_uri``; None goes back
    to the environment. What waits for the previous place is sent there first.

    >>> set_db_uri("mysql+pymysql://submarine:password@db:3306/submarine")  # doctest: +SKIP

    :param uri: a SQLAlchemy URL like ``mysql+pymysql://user:password@host:3306/submarine``
        (needs ``pip install 'submarine-sdk[tracking-db]'``), or None.
    """
    _switch(None)
    _trackdb.set_db_uri(uri)


def _sink_now() -> Sender | _FileWriter:
    global _sink
    sink = _sink
    if sink is None:
        with _sink_lock:
            if _sink is None:
                _sink = _open_sink()
            sink = _sink
    return sink


_known_keys: set[str] = set()
"""Metric keys found good already: a training loop logs a few keys again and again."""


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric's value (at a training step) for this experiment and worker.

    Returns at once; the value is sent in a batch within :data:`FLUSH_SECONDS`.

    :param key: the metric's name, e.g. ``"loss"`` or ``"eval/accuracy"`` (letters,
        digits, ``_``, ``-``, ``.``, spaces and ``/``).
    :param value: a number (NaN and infinities are recorded, and read back, as such).
    :param step: the training step (default 0, as in Submarine 0.8.0).
    :raises TypeError, ValueError: a bad key, value or step (never because of the server).
    :raises TrackingError: outside a replica.
    """
    if type(key) is not str or key not in _known_keys:
        key = checked_key(key, "metric")
        if len(_known_keys) < 10_000:
            _known_keys.add(key)
    if type(value) is not float:
        value = metric_value(key, value)
    if step is None:
        step = 0
    elif type(step) is not int or not -0x7FFFFFFFFFFFFFFF <= step <= 0x7FFFFFFFFFFFFFFF:
        step = metric_step(key, step)
    buffer = _fast
    if buffer is not None and len(buffer) < BATCH_SIZE:
        buffer.append((key, value, step, _time_ns() // 1_000_000))
        return
    sink = _sink or _sink_now()
    sink.metric(key, value, step, _time_ns() // 1_000_000)
    if isinstance(sink, Sender) and sink is _sink:
        _use_fast_path(sink.metrics)


def log_param(key: str, value: object) -> None:
    """Record a parameter of this run (a learning rate, a batch size) for this worker;
    a param recorded before for its key and worker keeps its first value where the
    records go to a Submarine 0.8.0 database.

    :param key: the parameter's name, e.g. ``"learning_rate"`` (0.8.0's rule, at most
        250 characters).
    :param value: its value; recorded as text (``str(value)``, at most 250 characters).
    :raises TypeError, ValueError: a bad key or value (never because of the server).
    :raises TrackingError: outside a replica.
    """
    key = checked_key(key, "param")
    text = param_text(key, value)
    if not is_text(text):
        raise ValueError(f"value of param {key!r} must be Unicode text, got {text[:40]!r}")
    (_sink or _sink_now()).param(key, text)


def flush(timeout: float = FLUSH_TIMEOUT) -> None:
    """Send every waiting record now, waiting at most ``timeout`` seconds.

    :param timeout: how long to wait for the server or database.
    :raises TrackingError: outside a replica, or when the server or database refuses a
        batch, fails, cannot be reached or does not answer in time (the records it did
        not take stay waiting, and are tried again).
    """
    _sink_now().flush(timeout)

"""The tracking contract: what a replica sends to the tracking endpoints, the rules its
records follow, and the shapes the server answers with. Both sides use this one module:
:mod:`submarine.tracking` encodes with it in replicas, the local server decodes and checks
with it. Standard library only: a training process imports it.

Bodies of ``POST /api/metric/add`` and ``POST /api/param/add``:

* a column batch of metrics (what :mod:`submarine.tracking` sends, :func:`encode_metrics`):
  ``{"id", "workerIndex", "columns": {"keys": [...], "key", "value", "step",
  "timestamp"}}``; each column is the base64 of little-endian numbers: key (uint32, an
  index into ``keys``), value (float64), step (int64; :data:`NO_STEP`, which older
  clients sent for none, is read as 0), timestamp (int64 milliseconds since the epoch, 0
  for when the server received it);
* a compact batch: ``{"id", "workerIndex", "metrics": [[key, value, step, timestamp],
  ...]}`` or ``{"id", "workerIndex", "params": [[key, value], ...]}`` (params are sent this
  way, :func:`encode_params`);
* records as Submarine 0.8.0 sends them: one object or a list of
  ``{id, key, value, workerIndex, timestamp, step, isNan}`` (params ``{id, key, value,
  workerIndex}``).

The rules: a key is a non-empty string of at most :data:`MAX_KEY` characters; a param's
value, as text, at most :data:`MAX_TEXT`; a worker index at most :data:`MAX_WORKER`; no
string, the experiment id included, holds a lone surrogate (JSON's ``"\\ud800"``: it is not
Unicode text, and could not be answered as UTF-8); a step is a whole number of 64 bits (none
is 0, as in 0.8.0); NaN (or a null value, or ``isNan`` true) is recorded as NaN and
infinities as infinities; a batch holds at least one record of one experiment.
:func:`read_batch` raises :class:`RecordError` naming the record and the field that break
them.

The short worker index keeps reads in proportion to uploads: a column batch names its
worker once, but every row of an answer repeats it (a worker index of 8,000 characters
made a 1 MB upload a 226 MB answer of 0.8.0's shape).

A stored metric row is ``(key, value, worker, timestamp, step, isNan)`` (value None for
NaN, a float infinity for an infinity; step None, in rows of older servers, for none); a
param row ``(key, value as text, worker)``. :func:`metric_wire` and :func:`param_wire` give
them the shapes of 0.8.0's answers, where NaN is value 0 with ``isNan`` true and an
infinity ±1.7976931348623157e308 (:data:`LARGEST`), as 0.8.0 stores them.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, TypeAlias

__all__ = [
    "LARGEST",
    "MAX_KEY",
    "MAX_STEP",
    "MAX_TEXT",
    "MAX_WORKER",
    "NO_STEP",
    "TOKEN_ENV",
    "URI_ENV",
    "ColumnBatch",
    "MetricRecord",
    "ParamRecord",
    "RecordError",
    "encode_columns",
    "encode_metrics",
    "encode_params",
    "is_text",
    "metric_wire",
    "param_wire",
    "read_batch",
    "wire_value",
]

URI_ENV: Final = "SUBMARINE_TRACKING_URI"
"""Where the server that started a replica listens (the server sets it)."""
TOKEN_ENV: Final = "SUBMARINE_TRACKING_TOKEN"
"""A replica's tracking credential (the server sets it)."""
MAX_KEY: Final = 250
"""The longest metric or param key, in characters."""
MAX_TEXT: Final = 8000
"""The longest param value (as text), in characters."""
MAX_WORKER: Final = 64
"""The longest worker index (``worker-0``, ``ps-1``), in characters (0.8.0's column)."""
NO_STEP: Final = -(2**63)
"""What older clients sent in the step column for a metric without a step (read as 0)."""
LARGEST: Final = sys.float_info.max
"""An infinity's magnitude in answers (JSON holds no infinity), as 0.8.0 stores it."""
MAX_STEP: Final = 2**63 - 1
"""The largest step (steps are int64; the smallest, :data:`NO_STEP`, means none)."""

MetricRecord: TypeAlias = tuple[str, float, int, int]
"""A metric as a replica keeps it until sent: (key, value, step, timestamp in
milliseconds)."""
ParamRecord: TypeAlias = tuple[str, str]
"""A param as a replica keeps it until sent: (key, value as text)."""
Row: TypeAlias = Sequence[Any]

_FLOAT_INT: Final = int(sys.float_info.max)
"""The largest whole number a float64 holds (past it, a value is no number of a metric)."""
_COLUMNS: Final = (("key", "I"), ("value", "d"), ("step", "q"), ("timestamp", "q"))
"""A column batch's columns and their array type codes."""


class RecordError(ValueError):
    """A body that breaks the contract; the message names the record and the field."""


# -- encoding (the replica's side) -----------------------------------------------------------


def _little_endian(column: array[Any]) -> bytes:
    """A column's bytes, least significant first (the batch's byte order on every host)."""
    if sys.byteorder == "big":
        column = array(column.typecode, column)
        column.byteswap()
    return column.tobytes()


def encode_columns(records: Sequence[MetricRecord]) -> bytes:
    """Metric records as the JSON of a column batch: the keys once, then a column of
    numbers a field, as bytes (base64 in the JSON) rather than as text a number at a time,
    which would cost the training process far more.

    >>> json.loads(encode_columns([("loss", 0.5, 3, 1700000000000)]))["keys"]
    ['loss']
    """
    if records:
        names, values, steps, stamps = zip(*records, strict=True)
    else:
        names = values = steps = stamps = ()
    keys = list(dict.fromkeys(names))
    if len(keys) == 1:
        ids = array("I", bytes(4 * len(names)))
    else:
        ids = array("I", map({key: index for index, key in enumerate(keys)}.__getitem__, names))
    parts = [b'{"keys":', json.dumps(keys).encode("utf-8")]
    for field, column in (
        ("key", ids),
        ("value", array("d", values)),
        ("step", array("q", steps)),
        ("timestamp", array("q", stamps)),
    ):  # base64 needs no escaping in a JSON string
        parts += (
            b',"',
            field.encode("ascii"),
            b'":"',
            base64.b64encode(_little_endian(column)),
            b'"',
        )
    parts.append(b"}")
    return b"".join(parts)


def _head(experiment_id: str, worker: str) -> bytes:
    """The start of a batch body: the experiment and worker once, the object left open."""
    return json.dumps({"id": experiment_id, "workerIndex": worker}).encode("utf-8")[:-1]


def encode_metrics(experiment_id: str, worker: str, records: Sequence[MetricRecord]) -> bytes:
    """The body of ``POST /api/metric/add`` for a column batch of one worker's metrics.

    >>> body = encode_metrics("experiment-1-0001", "worker-0", [("loss", 0.5, 3, 0)])
    >>> read_batch(json.loads(body), "metric", now_ms=7)[1].rows()
    [['loss', 0.5, 'worker-0', 7, 3, False]]
    """
    return b"".join((_head(experiment_id, worker), b',"columns":', encode_columns(records), b"}"))


def encode_params(experiment_id: str, worker: str, records: Sequence[ParamRecord]) -> bytes:
    """The body of ``POST /api/param/add`` for a compact batch of one worker's params."""
    params = json.dumps(records, separators=(",", ":")).encode("utf-8")
    return b"".join((_head(experiment_id, worker), b',"params":', params, b"}"))


# -- the rules of records (the server's side) -----------------------------------------------


def _refuse(index: int, name: str, value: Any, rule: str) -> RecordError:
    return RecordError(f"[{index}].{name}: must be {rule}, got {value!r}")


def is_text(text: str) -> bool:
    """Whether ``text`` is Unicode text: no lone surrogate (JSON's ``"\\ud800"``), which
    UTF-8 cannot hold.

    >>> is_text("loss"), is_text("\\ud800")
    (True, False)
    """
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(index: int, name: str, text: str) -> str:
    """``text``, if it can be answered (:func:`is_text`)."""
    if not is_text(text):
        raise _refuse(index, name, text, "text without lone surrogates")
    return text


def _key(index: int, key: Any) -> str:
    if type(key) is not str or not key or len(key) > MAX_KEY:
        raise _refuse(index, "key", key, f"a non-empty string of at most {MAX_KEY} characters")
    return _text(index, "key", key)


def _worker(index: int, worker: Any) -> str:
    if worker is None or worker == "":
        return "worker-0"
    if type(worker) is not str or len(worker) > MAX_WORKER:
        raise _refuse(
            index,
            "workerIndex",
            worker if len(str(worker)) < 80 else str(worker)[:40] + "...",
            f"a string like 'worker-0' of at most {MAX_WORKER} characters",
        )
    return _text(index, "workerIndex", worker)


def _whole(index: int, name: str, value: Any) -> int | None:
    if value is None or (type(value) is int and NO_STEP <= value <= MAX_STEP):
        return value
    raise _refuse(index, name, value, "a whole number of 64 bits or null")


def _metric_row(
    index: int, key: Any, value: Any, worker: str, timestamp: Any, step: Any, now_ms: int
) -> tuple[Any, ...]:
    if isinstance(value, float):
        nan = math.isnan(value)
    elif value is None:
        nan = True
    elif type(value) is int and -_FLOAT_INT <= value <= _FLOAT_INT:
        value, nan = float(value), False
    else:
        raise _refuse(index, "value", value, "a number or null")
    return (
        _key(index, key),
        None if nan else value,
        worker,
        _whole(index, "timestamp", timestamp) or now_ms,
        _step(_whole(index, "step", step)),
        nan,
    )


def _metric_rows(records: Sequence[Mapping[str, Any]], now_ms: int) -> list[tuple[Any, ...]]:
    rows = []
    for index, record in enumerate(records):
        row = _metric_row(
            index,
            record.get("key"),
            record.get("value"),
            _worker(index, record.get("workerIndex")),
            record.get("timestamp"),
            record.get("step"),
            now_ms,
        )
        if record.get("isNan") is True and not row[5]:
            row = (*row[:1], None, *row[2:5], True)
        rows.append(row)
    return rows


def _param_rows(records: Sequence[Mapping[str, Any]], worker: str | None) -> list[tuple[Any, ...]]:
    rows = []
    for index, record in enumerate(records):
        value = record.get("value")
        if value is None or isinstance(value, (dict, list)):
            raise _refuse(index, "value", value, "a string, number or boolean")
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_TEXT:
            raise _refuse(index, "value", text[:40] + "...", f"at most {MAX_TEXT} characters")
        _text(index, "value", text)
        who = worker if worker is not None else _worker(index, record.get("workerIndex"))
        rows.append((_key(index, record.get("key")), text, who))
    return rows


def _experiment(document: Mapping[str, Any]) -> str:
    experiment_id = document.get("id")
    if not isinstance(experiment_id, str) or not is_text(experiment_id):
        raise RecordError(f"id: must be an experiment id, got {experiment_id!r}")
    return experiment_id


def _compact_rows(
    document: Mapping[str, Any], kind: str, now_ms: int
) -> tuple[str, list[tuple[Any, ...]]]:
    experiment_id = _experiment(document)
    worker = _worker(0, document.get("workerIndex"))
    items = document.get(f"{kind}s")
    if not isinstance(items, list) or not items:
        raise RecordError(f"{kind}s: must be a non-empty list of rows, got {items!r}")
    width = 4 if kind == "metric" else 2
    for index, item in enumerate(items):
        if type(item) is not list or len(item) != width:
            raise RecordError(f"{kind}s[{index}]: must be a list of {width} items, got {item!r}")
    if kind == "param":
        return experiment_id, _param_rows([{"key": k, "value": v} for k, v in items], worker)
    return experiment_id, [
        _metric_row(index, key, value, worker, timestamp, step, now_ms)
        for index, (key, value, step, timestamp) in enumerate(items)
    ]


def _record_rows(document: Any, kind: str, now_ms: int) -> tuple[str, list[tuple[Any, ...]]]:
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise RecordError(f"[{index}]: must be an object, got {record!r}")
    if not records:
        raise RecordError("the body is an empty list: send at least one record")
    ids = {record.get("id") for record in records}
    if len(ids) != 1 or not isinstance(next(iter(ids)), str) or not is_text(next(iter(ids))):
        raise RecordError(
            f"id: every record needs the same experiment id, got {sorted(map(repr, ids))}"
        )
    experiment_id = str(next(iter(ids)))
    if kind == "metric":
        return experiment_id, _metric_rows(records, now_ms)
    return experiment_id, _param_rows(records, None)


def read_batch(
    document: Any, kind: str, now_ms: int
) -> tuple[str, ColumnBatch | list[tuple[Any, ...]], int]:
    """The experiment id, the checked batch and its record count of a body of ``kind``
    (``metric`` or ``param``): a :class:`ColumnBatch`, or rows (see the module's doc).

    Args:
        document: the parsed JSON body, in any of the shapes the module lists.
        kind: ``metric`` or ``param``.
        now_ms: the time the server received it, for records without a timestamp.

    Raises:
        RecordError: naming the record and the field that break the rules.
    """
    if kind == "metric" and isinstance(document, Mapping) and "columns" in document:
        return ColumnBatch.parse(document, now_ms)
    if isinstance(document, Mapping) and f"{kind}s" in document:
        experiment_id, rows = _compact_rows(document, kind, now_ms)
    else:
        experiment_id, rows = _record_rows(document, kind, now_ms)
    return experiment_id, rows, len(rows)


# -- column batches -------------------------------------------------------------------------


class ColumnBatch:
    """A checked batch of metrics in columns, kept as received: the worker, the ``keys``,
    the columns as their base64 text, and ``now`` (the time the server received it, for
    timestamps of 0). Storing thousands of records so costs no work per record;
    :meth:`rows` decodes them.
    """

    def __init__(self, worker: str, keys: list[str], columns: dict[str, str], now: int) -> None:
        self.worker = worker
        self.keys = keys
        self.columns = columns
        self.now = now

    @classmethod
    def parse(cls, document: Mapping[str, Any], now_ms: int) -> tuple[str, ColumnBatch, int]:
        """The experiment id, the batch and its record count of a column batch body;
        :class:`RecordError` names what is wrong."""
        experiment_id = _experiment(document)
        worker = _worker(0, document.get("workerIndex"))
        columns = document.get("columns")
        if not isinstance(columns, Mapping):
            raise RecordError(f"columns: must be an object of columns, got {columns!r}")
        given = columns.get("keys")
        if not isinstance(given, list) or not given:
            raise RecordError(f"columns.keys: must be a non-empty list of keys, got {given!r}")
        keys = [_key(index, key) for index, key in enumerate(given)]
        decoded = {name: _column(columns, name, code) for name, code in _COLUMNS}
        counts = [len(column) for column in decoded.values()]
        if len(set(counts)) != 1 or not counts[0]:
            raise RecordError(
                "columns: key, value, step and timestamp must hold as many records, at least "
                f"one; got {', '.join(map(str, counts))}"
            )
        if max(decoded["key"]) >= len(keys):
            raise RecordError(f"columns.key: must index columns.keys (0..{len(keys) - 1})")
        texts = {name: str(columns[name]) for name, _ in _COLUMNS}
        return experiment_id, cls(worker, keys, texts, now_ms), counts[0]

    def rows(self) -> list[list[Any]]:
        """The records as stored rows: [key, value, worker, timestamp, step, isNan]."""
        return list(self.iter_rows())

    def iter_rows(self) -> Iterator[list[Any]]:
        """:meth:`rows` one at a time (a reader of a big batch holds one row, not all)."""
        decoded = [_decode(self.columns[name], code) for name, code in _COLUMNS]
        keys, worker, now, isnan = self.keys, self.worker, self.now, math.isnan
        for ident, value, step, stamp in zip(*decoded, strict=True):
            nan = isnan(value)
            yield [
                keys[ident],
                None if nan else value,
                worker,
                stamp or now,
                0 if step == NO_STEP else step,
                nan,
            ]


def _decode(text: str, code: str) -> array[Any]:
    column = array(code)
    column.frombytes(base64.b64decode(text, validate=True))
    if sys.byteorder == "big":
        column.byteswap()
    return column


def _column(columns: Mapping[str, Any], name: str, code: str) -> array[Any]:
    text = columns.get(name)
    try:
        if not isinstance(text, str):
            raise ValueError(name)
        return _decode(text, code)
    except ValueError:
        raise RecordError(
            f"columns.{name}: must be the base64 of little-endian "
            f"{array(code).itemsize * 8}-bit numbers, got {str(text)[:40]!r}"
        ) from None


# -- answers --------------------------------------------------------------------------------


def _step(step: int | None) -> int:
    """A stored step: none (null, or :data:`NO_STEP` from an older client) is 0."""
    return 0 if step is None or step == NO_STEP else step


def wire_value(value: float | None) -> float | None:
    """A stored value as JSON holds it: NaN (None) stays None, an infinity is
    ±:data:`LARGEST`.

    >>> wire_value(float("-inf")), wire_value(None), wire_value(0.5)
    (-1.7976931348623157e+308, None, 0.5)
    """
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return None
    return LARGEST if value > 0 else -LARGEST


def metric_wire(experiment_id: str, row: Row) -> dict[str, Any]:
    """A stored metric row as 0.8.0 answers it:
    ``{id, key, value, workerIndex, timestamp, step, isNan}`` (NaN as value 0 with
    ``isNan`` true, an infinity as ±:data:`LARGEST`, no step as 0)."""
    key, value, worker, timestamp, step, nan = row
    number = wire_value(value)
    return {
        "id": experiment_id,
        "key": key,
        "value": 0.0 if nan or number is None else number,
        "workerIndex": worker,
        "timestamp": timestamp,
        "step": _step(step),
        "isNan": bool(nan) or number is None,
    }


def param_wire(experiment_id: str, row: Row) -> dict[str, Any]:
    """A stored param row as 0.8.0 answers it: ``{id, key, value, workerIndex}``."""
    key, value, worker = row
    return {"id": experiment_id, "key": key, "value": value, "workerIndex": worker}

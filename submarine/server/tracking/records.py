"""What replicas send to the tracking endpoints, checked: records as rows, and the column
batches of :mod:`submarine.tracking`.

A stored metric row is ``(key, value, worker, timestamp, step, isNan)`` (value None for
NaN); a param row is ``(key, value as text, worker)``. Every refusal is an
:class:`~submarine.server.api.rest.ApiError` 400 naming the record and the field.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Final

from submarine.server.api.rest import ApiError
from submarine.tracking import MAX_KEY, MAX_TEXT, NO_STEP

__all__ = ["ColumnBatch", "compact_rows", "metric_rows", "param_rows", "rows_of"]


def _refuse(index: int, name: str, value: Any, rule: str) -> ApiError:
    return ApiError(400, f"[{index}].{name}: must be {rule}, got {value!r}")


def _key(index: int, key: Any) -> str:
    if type(key) is not str or not key or len(key) > MAX_KEY:
        raise _refuse(index, "key", key, f"a non-empty string of at most {MAX_KEY} characters")
    return key


def _worker(index: int, worker: Any) -> str:
    if worker is None or worker == "":
        return "worker-0"
    if type(worker) is not str or len(worker) > MAX_TEXT:
        raise _refuse(index, "workerIndex", worker, "a string like 'worker-0'")
    return worker


def _whole(index: int, name: str, value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    raise _refuse(index, name, value, "a whole number or null")


def metric_rows(records: Sequence[Mapping[str, Any]], now_ms: int) -> list[tuple[Any, ...]]:
    """Checked metric records as rows (key, value, worker, timestamp, step, isNan): one
    pass, since a replica sends them by the thousand."""
    rows = []
    for index, record in enumerate(records):
        value = record.get("value")
        if isinstance(value, float):
            nan = not math.isfinite(value)
        elif value is None:
            nan = True
        elif type(value) is int:
            value, nan = float(value), False
        else:
            raise _refuse(index, "value", value, "a number or null")
        nan = nan or record.get("isNan") is True
        rows.append(
            (
                _key(index, record.get("key")),
                None if nan else value,
                _worker(index, record.get("workerIndex")),
                _whole(index, "timestamp", record.get("timestamp")) or now_ms,
                _whole(index, "step", record.get("step")),
                nan,
            )
        )
    return rows


def param_rows(records: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Checked param records as rows (key, value as text, worker)."""
    rows = []
    for index, record in enumerate(records):
        value = record.get("value")
        if value is None or isinstance(value, (dict, list)):
            raise _refuse(index, "value", value, "a string, number or boolean")
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_TEXT:
            raise _refuse(index, "value", text[:40] + "...", f"at most {MAX_TEXT} characters")
        rows.append(
            (_key(index, record.get("key")), text, _worker(index, record.get("workerIndex")))
        )
    return rows


def compact_rows(
    document: Mapping[str, Any], kind: str, now_ms: int
) -> tuple[str, list[tuple[Any, ...]]]:
    """The experiment id and checked rows of a compact batch (what ``submarine.tracking``
    sends): ``{"id", "workerIndex", "metrics": [[key, value, step, timestamp], ...]}`` or
    ``{"id", "workerIndex", "params": [[key, value], ...]}``."""
    experiment_id = document.get("id")
    if not isinstance(experiment_id, str):
        raise ApiError(400, f"id: must be an experiment id, got {experiment_id!r}")
    worker = _worker(0, document.get("workerIndex"))
    items = document.get(f"{kind}s")
    if not isinstance(items, list) or not items:
        raise ApiError(400, f"{kind}s: must be a non-empty list of rows, got {items!r}")
    width = 4 if kind == "metric" else 2
    for index, item in enumerate(items):
        if type(item) is not list or len(item) != width:
            raise ApiError(400, f"{kind}s[{index}]: must be a list of {width} items, got {item!r}")
    if kind == "param":
        records: list[dict[str, Any]] = [{"key": k, "value": v} for k, v in items]
        return experiment_id, [(k, v, worker) for k, v, _ in param_rows(records)]
    rows = []
    for index, (key, value, step, timestamp) in enumerate(items):
        if value is None:
            nan = True
        elif type(value) is float or type(value) is int:
            value = float(value)
            nan = not math.isfinite(value)
        else:
            raise _refuse(index, "value", value, "a number or null")
        rows.append(
            (
                _key(index, key),
                None if nan else value,
                worker,
                _whole(index, "timestamp", timestamp) or now_ms,
                _whole(index, "step", step),
                nan,
            )
        )
    return experiment_id, rows


_COLUMNS: Final = (("key", "I"), ("value", "d"), ("step", "q"), ("timestamp", "q"))
"""A column batch's columns and their array type codes."""


class ColumnBatch:
    """A checked batch of metrics in columns, as ``submarine.tracking`` sends them and as
    the store keeps them: ``keys`` once, then a column a field, each the base64 of
    little-endian numbers: key (uint32, an index into keys), value (float64), step (int64,
    :data:`~submarine.tracking.NO_STEP` for none), timestamp (int64 milliseconds, 0 for the
    time the server received it, ``now``).

    Kept as received: storing a batch of thousands of records costs no work per record.
    """

    def __init__(self, worker: str, keys: list[str], columns: dict[str, str], now: int) -> None:
        self.worker = worker
        self.keys = keys
        self.columns = columns
        self.now = now

    @classmethod
    def parse(cls, document: Mapping[str, Any], now_ms: int) -> tuple[str, ColumnBatch, int]:
        """The experiment id, the batch and its record count of a body
        ``{"id", "workerIndex", "columns": {"keys": [...], "key", "value", "step",
        "timestamp"}}``; :class:`ApiError` names what is wrong."""
        experiment_id = document.get("id")
        if not isinstance(experiment_id, str):
            raise ApiError(400, f"id: must be an experiment id, got {experiment_id!r}")
        worker = _worker(0, document.get("workerIndex"))
        columns = document.get("columns")
        if not isinstance(columns, Mapping):
            raise ApiError(400, f"columns: must be an object of columns, got {columns!r}")
        given = columns.get("keys")
        if not isinstance(given, list) or not given:
            raise ApiError(400, f"columns.keys: must be a non-empty list of keys, got {given!r}")
        keys = [_key(index, key) for index, key in enumerate(given)]
        decoded = {name: _column(columns, name, code) for name, code in _COLUMNS}
        counts = [len(column) for column in decoded.values()]
        if len(set(counts)) != 1 or not counts[0]:
            raise ApiError(
                400,
                "columns: key, value, step and timestamp must hold as many records, at least "
                f"one; got {', '.join(map(str, counts))}",
            )
        if max(decoded["key"]) >= len(keys):
            raise ApiError(400, f"columns.key: must index columns.keys (0..{len(keys) - 1})")
        texts = {name: str(columns[name]) for name, _ in _COLUMNS}
        return experiment_id, cls(worker, keys, texts, now_ms), counts[0]

    def stored(self) -> str:
        """The batch as the store keeps it (a JSON object)."""
        document = {"worker": self.worker, "keys": self.keys, "now": self.now, **self.columns}
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> ColumnBatch:
        """A batch the store kept."""
        document = json.loads(text)
        columns = {name: document[name] for name, _ in _COLUMNS}
        return cls(document["worker"], document["keys"], columns, document["now"])

    def rows(self) -> list[list[Any]]:
        """The records as stored rows: [key, value, worker, timestamp, step, isNan]."""
        decoded = [_decode(self.columns[name], code) for name, code in _COLUMNS]
        keys, worker, now, isfinite = self.keys, self.worker, self.now, math.isfinite
        return [
            [
                keys[ident],
                value if isfinite(value) else None,
                worker,
                stamp or now,
                None if step == NO_STEP else step,
                not isfinite(value),
            ]
            for ident, value, step, stamp in zip(*decoded, strict=True)
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
        raise ApiError(
            400,
            f"columns.{name}: must be the base64 of little-endian "
            f"{array(code).itemsize * 8}-bit numbers, got {str(text)[:40]!r}",
        ) from None


def rows_of(document: Any, kind: str, now_ms: int) -> tuple[str, list[tuple[Any, ...]]]:
    """The experiment id and checked rows of a body of records: a compact batch, one
    record, or a list of records of one experiment."""
    if isinstance(document, Mapping) and f"{kind}s" in document:
        return compact_rows(document, kind, now_ms)
    records = _records(document)
    ids = {record.get("id") for record in records}
    if len(ids) != 1 or not isinstance(next(iter(ids)), str):
        raise ApiError(
            400, f"id: every record needs the same experiment id, got {sorted(map(repr, ids))}"
        )
    experiment_id = str(next(iter(ids)))
    if kind == "metric":
        return experiment_id, metric_rows(records, now_ms)
    return experiment_id, param_rows(records)


def _records(document: Any) -> list[Mapping[str, Any]]:
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ApiError(400, f"[{index}]: must be an object, got {record!r}")
    if not records:
        raise ApiError(400, "the body is an empty list: send at least one record")
    return records

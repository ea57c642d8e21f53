"""Reads of metrics and params in bounded memory: 0.8.0's answers written while the store
is read, and pages that give only what is new.

0.8.0's reads (``POST /api/metric/selective`` and the others) answer every record of an
experiment in one list. :func:`selective_pieces` writes that same JSON piece by piece, a
stored batch at a time (the route sends it chunked, each piece made in a worker thread): a
read of millions of records holds one batch and one piece, not the whole answer.

The paged read (``GET /api/metric/page`` and ``GET /api/param/page``, :func:`read_page`)
answers the records that came after a cursor, grouped per key and worker, in a page of at
most :data:`MAX_PAGE` records and about :data:`PAGE_BYTES` bytes of JSON, with the cursor
to ask from next time::

    {"experimentId": "experiment-1-0001",
     "series": [{"key": "loss", "workerIndex": "worker-0", "points": [[step, value, ms]]}],
     "cursor": "t1.12.500", "more": false}

(params: ``"values": ["0.01"]`` instead of ``points``; a point's value is null for NaN and
±1.7976931348623157e308 for an infinity, its step 0 for none). ``more`` says the page was
cut short: ask again at once.

A record stored by an older server may hold a lone surrogate that cannot be written as
UTF-8: it is answered with U+FFFD in its place, never with an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from pydantic_core import PydanticSerializationError

from submarine.models.trackwire import metric_wire, param_wire, wire_value
from submarine.server.api.rest import dump_bytes, envelope_body
from submarine.server.tracking.store import TrackingStore, stored_rows

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "PAGE_BYTES",
    "PIECE_BYTES",
    "SCAN_BYTES",
    "decode_cursor",
    "encode_cursor",
    "read_page",
    "selective_pieces",
]

DEFAULT_PAGE: Final = 5000
"""Records in a page when the request gives no ``limit``."""
MAX_PAGE: Final = 10_000
"""The largest ``limit`` of a page (larger ones are clamped)."""
PAGE_BYTES: Final = 512 << 10
"""About the most bytes of JSON a page holds, whatever its keys and values."""
SCAN_BYTES: Final = 8 << 20
"""Stored bytes one page reads at most while looking for records of one key or worker."""
PIECE_BYTES: Final = 64 << 10
"""About how many bytes of a streamed answer are written at a time."""
POINT_BYTES: Final = 70
"""The most a metric's ``[step, value, timestamp]`` takes in JSON, with its comma."""

_CURSOR: Final = re.compile(r"t1\.([0-9]{1,19})\.([0-9]{1,9})")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

Filter = Callable[[Sequence[Any]], bool]


def encode_cursor(seq: int, index: int) -> str:
    """The cursor of a position: row ``index`` of the stored batch ``seq``.

    >>> encode_cursor(12, 500)
    't1.12.500'
    """
    return f"t1.{seq}.{index}"


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    """The position of a cursor (none: the start).

    Raises:
        ValueError: a cursor no page answered.
    """
    if not cursor:
        return 0, 0
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise ValueError(
            f"cursor {cursor[:40]!r} is not valid: pass the cursor of the previous page, "
            "or none to read from the start"
        )
    return int(match[1]), int(match[2])


def _matches(key: str | None, worker: str | None) -> Filter:
    def wanted(row: Sequence[Any]) -> bool:
        return (key is None or row[0] == key) and (worker is None or row[2] == worker)

    return wanted


def _printable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (it cannot be UTF-8)."""
    return _SURROGATE.sub("\ufffd", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _printable(value)
    if isinstance(value, Mapping):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


def _dump(value: Any) -> bytes:
    """JSON of ``value`` as answers write it; text that is not Unicode is repaired."""
    try:
        return dump_bytes(value)
    except PydanticSerializationError:
        return dump_bytes(_clean(value))


def _envelope_ends() -> tuple[bytes, bytes]:
    head, _, tail = dump_bytes(envelope_body(result=[])).partition(b"[]")
    return head + b"[", b"]" + tail


def selective_pieces(
    store: TrackingStore,
    kind: str,
    experiment_id: str,
    *,
    key: str | None = None,
    worker: str | None = None,
) -> Iterator[bytes]:
    """0.8.0's answer of an experiment's records (of one key and one worker if given), the
    success envelope around a list in their wire shape, in pieces of about
    :data:`PIECE_BYTES`: byte for byte what writing it whole would give.

    A plain generator doing blocking reads: run it in worker threads.
    """
    wire = metric_wire if kind == "metric" else param_wire
    wanted = _matches(key, worker)
    head, tail = _envelope_ends()
    pending: list[dict[str, Any]] = []
    piece = head
    written = False
    for _, text in store.batches(kind, experiment_id):
        for row in stored_rows(text):
            if not wanted(row):
                continue
            pending.append(wire(experiment_id, row))
            if len(pending) >= 512:
                piece += (b"," if written else b"") + _dump(pending)[1:-1]
                pending, written = [], True
                if len(piece) >= PIECE_BYTES:
                    yield piece
                    piece = b""
    if pending:
        piece += (b"," if written else b"") + _dump(pending)[1:-1]
    yield piece + tail


def _cost(text: str) -> int:
    """The most bytes ``text`` takes as a JSON string (6 a character when escaped)."""
    return 2 * len(text) + 2 if text.isascii() and text.isprintable() else 6 * len(text) + 2


def read_page(
    store: TrackingStore,
    kind: str,
    experiment_id: str,
    *,
    cursor: str | None,
    limit: int = DEFAULT_PAGE,
    key: str | None = None,
    worker: str | None = None,
) -> bytes:
    """The success envelope of a page: the records after ``cursor`` (of one key and one
    worker if given), at most ``limit`` and about :data:`PAGE_BYTES` bytes, per key and
    worker (see the module's doc). Blocking: run it in a worker thread.

    Raises:
        ValueError: a cursor no page answered.
    """
    first, skip = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_PAGE))
    wanted = _matches(key, worker)
    series: dict[tuple[str, str], list[Any]] = {}
    taken = scanned = 0
    size = 200 + len(experiment_id)
    position = (first, skip)
    more = False
    for seq, text in store.batches(kind, experiment_id, first):
        if scanned >= SCAN_BYTES or taken >= limit or size >= PAGE_BYTES:
            more = True
            break
        scanned += len(text)
        index = 0
        for row in stored_rows(text):
            index += 1
            if (seq == first and index <= skip) or not wanted(row):
                continue
            if taken >= limit or size >= PAGE_BYTES:
                more = True
                index -= 1
                break
            name = (str(row[0]), str(row[2]))
            records = series.get(name)
            if records is None:
                records = series[name] = []
                size += _cost(name[0]) + _cost(name[1]) + 50
            if kind == "metric":
                records.append([row[4] or 0, wire_value(row[1]), row[3]])
                size += POINT_BYTES
            else:
                records.append(row[1])
                size += _cost(str(row[1])) + 1
            taken += 1
        if more:
            position = (seq, index)
            break
        position = (seq + 1, 0)
    field = "points" if kind == "metric" else "values"
    result = {
        "experimentId": experiment_id,
        "series": [
            {"key": name, "workerIndex": who, field: records}
            for (name, who), records in series.items()
        ],
        "cursor": encode_cursor(*position),
        "more": more,
    }
    return _dump(envelope_body(result=result))

"""Metrics thinned for a chart: at most a few points per pixel, the extremes kept.

``GET /api/metric/page?id=..&buckets=N`` (an extension of the paged read, :mod:`.reads`)
answers every record after the cursor at once, each key and worker's series cut into ``N``
buckets of consecutive records (in the order they came) and, of each bucket, only its
first and last records and those of its lowest and highest values: a line drawn through
them at one bucket a pixel looks as the whole series does (min/max decimation), and no
peak or dip is lost. A series of at most ``2 * N`` records is answered whole. ``start``
and ``end`` (steps, inclusive) keep only the records between them (a chart's zoom)::

    {"experimentId": "experiment-1-0001",
     "series": [{"key": "loss", "workerIndex": "worker-0", "count": 1000000,
                 "points": [[step, value, ms, index]]}],
     "cursor": "t1.40.0", "more": false, "buckets": 1000}

``count`` is how many records the series holds (between ``start`` and ``end``), ``index``
a point's place among them (0 first), for a chart that draws records without steps in
the order they came. Values are as in a page (null for NaN, ±1.7976931348623157e308 for an
infinity); those never win a bucket's min or max, and a bucket of nothing else is left
out. The cursor is the end of what was read: pages after it are what came since.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any, Final

from submarine.models.trackwire import wire_value
from submarine.server.api.rest import envelope_body
from submarine.server.tracking.reads import _dump, decode_cursor, encode_cursor
from submarine.server.tracking.store import TrackingStore, stored_rows

__all__ = ["MAX_BUCKETS", "read_buckets", "thin"]

MAX_BUCKETS: Final = 10_000
"""The most buckets a read may ask for (more are clamped)."""


@dataclass
class _Series:
    steps: array[float] = field(default_factory=lambda: array("d"))
    values: array[float] = field(default_factory=lambda: array("d"))
    stamps: array[float] = field(default_factory=lambda: array("d"))


def thin(values: array[float] | list[float], buckets: int) -> list[int]:
    """The indexes a series keeps at ``buckets`` buckets, ascending: all of them for a
    series of at most ``2 * buckets``; else, per bucket of consecutive values, its first and
    last and those of its lowest and highest finite values.

    >>> thin([5.0, 1.0, 9.0, 2.0, 2.0, 3.0, 8.0, 0.0, 4.0], 2)
    [0, 1, 2, 3, 4, 6, 7, 8]
    """
    count = len(values)
    if count <= 2 * buckets:
        return list(range(count))
    kept: list[int] = []
    isfinite = math.isfinite
    for bucket in range(buckets):
        first = bucket * count // buckets
        last = (bucket + 1) * count // buckets - 1
        low = high = -1
        for index in range(first, last + 1):
            value = values[index]
            if not isfinite(value):
                continue
            if low < 0 or value < values[low]:
                low = index
            if high < 0 or value > values[high]:
                high = index
        if low < 0:
            continue
        ends = {i for i in (first, last) if isfinite(values[i])}
        kept.extend(sorted(ends | {low, high}))
    return kept


def read_buckets(
    store: TrackingStore,
    experiment_id: str,
    *,
    cursor: str | None,
    buckets: int,
    key: str | None = None,
    worker: str | None = None,
    start: float | None = None,
    end: float | None = None,
) -> bytes:
    """The success envelope of a thinned read (see the module's doc). Blocking: run it in
    a worker thread.

    Raises:
        ValueError: a cursor no page answered.
    """
    first, skip = decode_cursor(cursor)
    buckets = max(1, min(buckets, MAX_BUCKETS))
    low = -math.inf if start is None else start
    high = math.inf if end is None else end
    series: dict[tuple[str, str], _Series] = {}
    position = (first, skip)
    for seq, text in store.batches("metric", experiment_id, first):
        for index, row in enumerate(stored_rows(text), 1):
            if seq == first and index <= skip:
                continue
            if (key is not None and row[0] != key) or (worker is not None and row[2] != worker):
                continue
            step = row[4] or 0
            if not low <= step <= high:
                continue
            named = (str(row[0]), str(row[2]))
            found = series.get(named)
            if found is None:
                found = series[named] = _Series()
            found.steps.append(step)
            found.values.append(math.nan if row[1] is None else row[1])
            found.stamps.append(row[3])
        position = (seq + 1, 0)
    answered = []
    for (name, who), found in series.items():
        points = [
            [
                _number(found.steps[i]),
                wire_value(_value(found.values[i])),
                _number(found.stamps[i]),
                i,
            ]
            for i in thin(found.values, buckets)
        ]
        answered.append(
            {"key": name, "workerIndex": who, "count": len(found.values), "points": points}
        )
    result: dict[str, Any] = {
        "experimentId": experiment_id,
        "series": answered,
        "cursor": encode_cursor(*position),
        "more": False,
        "buckets": buckets,
    }
    return _dump(envelope_body(result=result))


def _number(value: float) -> float | int:
    """A step or a time as it was sent: whole numbers without a fraction."""
    return int(value) if value.is_integer() else value


def _value(value: float) -> float | None:
    return None if math.isnan(value) else value

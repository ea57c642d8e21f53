"""Reading an experiment's metrics and params, as steps that the clients run.

With the local server's ``tracking-page`` extension, records are read a page at a time
(``GET /api/metric/page``, ``GET /api/param/page``): each page holds the records after a
cursor, per key and worker, at most :data:`PAGE_LIMIT` of them, so no answer is large and a
reader holds one page. A server without it (Submarine itself) is asked once, with 0.8.0's
``POST /api/metric/selective`` (or ``/api/param/selective``).

Like following logs (:mod:`._follow`), this module needs of a client only what
:class:`RecordSource` lists, and imports nothing of the core.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import Any, Final, Protocol, TypeAlias

from pydantic import Field, TypeAdapter

from submarine.client._decode import ExtensionAnswer, decode
from submarine.client._steps import Call
from submarine.models import Metric, Param

__all__ = [
    "PAGE_LIMIT",
    "TRACKING_PAGE",
    "RecordFlow",
    "RecordSource",
    "TrackingPage",
    "records_flow",
]

TRACKING_PAGE: Final = "tracking-page"
"""The local server's extension for reading metrics and params a page at a time."""
PAGE_LIMIT: Final = 5000
"""Records one page asks for at most."""

RecordFlow: TypeAlias = Generator["Call[Any] | list[Metric] | list[Param]", Any, None]
"""Yields calls (and receives their results) and the records read, a list at a time."""


class PageSeries(ExtensionAnswer):
    """The records of one key and worker in a page: metric points as
    ``[step, value, timestamp]`` (value None for NaN, ±1.7976931348623157e308 for an
    infinity), or param values."""

    key: str
    worker_index: str | None = None
    points: list[tuple[int | None, float | None, int | None]] = Field(default_factory=list)
    values: list[str | None] = Field(default_factory=list)


class TrackingPage(ExtensionAnswer):
    """One answer of the paged read."""

    experiment_id: str | None = None
    series: list[PageSeries] = Field(default_factory=list)
    cursor: str | None = None
    more: bool = False


class RecordSource(Protocol):
    """What a reader of records needs of a client: the server, what it offers, and 0.8.0's
    calls for a server without pages."""

    @property
    def host(self) -> str:
        """The server's base URL."""

    @property
    def extensions(self) -> frozenset[str] | None:
        """The server's extensions, once :meth:`extensions_call` asked; None before."""

    def extensions_call(self) -> Call[frozenset[str]]:
        """Ask the server which extensions it offers; its answer sets :attr:`extensions`."""

    def metrics_call(self, id: str) -> Call[list[Metric]]:
        """An experiment's metrics, all in one answer (0.8.0's read)."""

    def params_call(self, id: str) -> Call[list[Param]]:
        """An experiment's params, all in one answer (0.8.0's read)."""


_METRICS: TypeAdapter[list[Metric]] = TypeAdapter(list[Metric])
_PARAMS: TypeAdapter[list[Param]] = TypeAdapter(list[Param])


def _records(kind: str, experiment_id: str, page: TrackingPage) -> list[Metric] | list[Param]:
    """A page's records as the typed models (validated together, as one list)."""
    if kind == "metric":
        return _METRICS.validate_python(
            [
                {
                    "id": experiment_id,
                    "key": series.key,
                    "value": value,
                    "workerIndex": series.worker_index,
                    "timestamp": timestamp,
                    "step": step,
                    "isNan": value is None,
                }
                for series in page.series
                for step, value, timestamp in series.points
            ]
        )
    return _PARAMS.validate_python(
        [
            {"id": experiment_id, "key": s.key, "value": value, "workerIndex": s.worker_index}
            for s in page.series
            for value in s.values
        ]
    )


def records_flow(
    source: RecordSource,
    kind: str,
    experiment_id: str,
    *,
    key: str | None = None,
    worker: str | None = None,
) -> RecordFlow:
    """The steps of reading an experiment's ``kind`` (``metric`` or ``param``) records, of
    one key and one worker if given: a page at a time with the ``tracking-page``
    extension, else all at once. Yields each list of records read."""
    whole = (
        source.metrics_call(experiment_id)
        if kind == "metric"
        else (source.params_call(experiment_id))
    )  # built first: it checks the id
    if source.extensions is None:
        yield source.extensions_call()
    if TRACKING_PAGE not in (source.extensions or ()):
        records: list[Any] = yield whole
        yield [
            r
            for r in records
            if (key is None or r.key == key) and (worker is None or r.worker_index == worker)
        ]
        return
    params = {"id": experiment_id, "limit": str(PAGE_LIMIT)}
    if key is not None:
        params["key"] = key
    if worker is not None:
        params["workerIndex"] = worker
    read = partial(decode, TrackingPage)
    url = f"{source.host}/api/{kind}/page"
    while True:
        page: TrackingPage = yield Call("GET", url, read=read, params=dict(params))
        found = _records(kind, experiment_id, page)
        if found:
            yield found
        if not page.more or not page.cursor:
            return
        params["cursor"] = page.cursor

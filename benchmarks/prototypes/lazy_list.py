"""Prototype for goal 2: a typed experiment list that costs no more than ``json.loads``.

The problem, measured (``python -m benchmarks --only client``, rows 2.x.decode): decoding a
list envelope into ``list[Experiment]`` builds every experiment and its whole nested spec at
once. The client already does that entirely in Rust (``submarine/client/_fast.py`` leaves
out the lenient no-op validators) with the collector paused, and it still costs 1.2x
``json.loads`` of the same bytes for 1,000 experiments and 1.35-1.45x for 10,000: building
the models is more work than building the dicts, whatever the validators do.

The design:

1. Parse the bytes with pydantic-core's JSON reader (``pydantic_core.from_json``, the jiter
   parser, which caches repeated keys and is faster than ``json.loads``), with the cyclic
   garbage collector paused. Parsing allocates hundreds of thousands of containers; on
   Python 3.11 each 700 allocations start a collection that walks the young objects, and
   every tenth of those a larger one, so a 10,000-experiment list spends as much time in the
   collector as in the parser (measured: ``json.loads`` alone takes 0.5-0.6x as long with
   the collector paused). Nothing the parser makes can form a cycle, so pausing it only
   defers work that finds nothing; a caller that turned the collector off keeps it off.
2. Check the envelope and the *shape* of the list eagerly, in a few cheap operations per item:
   the envelope is an object, success is not false, ``result`` is a list, every item is an
   object with a string ``experimentId``. A malformed answer still fails at once, naming the
   item, like the eager decoder does.
3. Return an :class:`ExperimentList`, a ``Sequence[Experiment]`` that validates an item into
   an :class:`~submarine.models.Experiment` (leniently, exactly as today) the first time it is
   read, and keeps it. ``len()``, slicing, iteration and status filtering work as on a list;
   reading every item costs what eager validation costs today, but only for what is read.
4. Client-side status filtering (the real server ignores ``?status=``) reads the raw status
   string, so it validates nothing it drops.

Moving it into the client: ``ExperimentClient.list_experiments`` and the async mirror call
:func:`parse_experiment_list` on ``response.content`` instead of ``decode(EXPERIMENTS, ...)``
for a 2xx answer (errors keep going through ``error_for_response``), and return
``ExperimentList`` (a ``Sequence[Experiment]``; ``list(...)`` of it is a plain list). The
class belongs in ``submarine/models/experiment.py``, beside ``Experiment``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any, overload

import pydantic_core

from submarine.models import LENIENT, Experiment

__all__ = ["ExperimentList", "InvalidListError", "parse_experiment_list"]


class InvalidListError(ValueError):
    """An answer that is not a list envelope of experiments; the message says where."""


class ExperimentList(Sequence[Experiment]):
    """Experiments as a server listed them, each validated when it is first read.

    >>> items = ExperimentList([{"experimentId": "experiment-1-0001", "status": "Running"}])
    >>> len(items), items[0].status_name
    (1, 'Running')
    """

    __slots__ = ("_items", "_raw")

    def __init__(self, raw: list[dict[str, Any]]) -> None:
        self._raw = raw
        self._items: list[Experiment | None] = [None] * len(raw)

    def __len__(self) -> int:
        return len(self._raw)

    def _item(self, index: int) -> Experiment:
        item = self._items[index]
        if item is None:
            item = Experiment.model_validate(self._raw[index], context=LENIENT)
            self._items[index] = item
        return item

    @overload
    def __getitem__(self, index: int) -> Experiment: ...

    @overload
    def __getitem__(self, index: slice) -> list[Experiment]: ...

    def __getitem__(self, index: int | slice) -> Experiment | list[Experiment]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self._raw)))]
        if index < 0:
            index += len(self._raw)
        if not 0 <= index < len(self._raw):
            raise IndexError(f"experiment index {index} out of range: there are {len(self)}")
        return self._item(index)

    def __iter__(self) -> Iterator[Experiment]:
        for index in range(len(self._raw)):
            yield self._item(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExperimentList):
            return self._raw == other._raw
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ExperimentList({len(self)} experiments)"

    def to_list(self) -> list[dict[str, Any]]:
        """Every experiment in the documented dict shape, as received (nothing is validated)."""
        return self._raw

    def with_status(self, status: str) -> ExperimentList:
        """Only the experiments whose status is ``status`` (any case), read without validating."""
        wanted = status.lower()
        return ExperimentList(
            [item for item in self._raw if str(item.get("status") or "").lower() == wanted]
        )


def parse_experiment_list(content: bytes) -> ExperimentList:
    """The experiments of a list envelope; a malformed answer raises ``InvalidListError``.

    Envelopes that report a failure (``success`` false, or no result) raise too; a client
    maps those to its own errors before calling this for a 2xx answer.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        document = pydantic_core.from_json(content)
    except ValueError as exc:
        raise InvalidListError(f"the answer is not JSON: {exc}") from exc
    finally:
        if paused:
            gc.enable()
    if type(document) is not dict:
        raise InvalidListError(
            f"the answer is a JSON {type(document).__name__}, not Submarine's envelope object"
        )
    if document.get("success") is False:
        raise InvalidListError(f"the server reported failure: {document.get('message')!r}")
    result = document.get("result")
    if type(result) is not list:
        raise InvalidListError(
            f"the envelope's result is {type(result).__name__}, not a list of experiments"
        )
    for index, item in enumerate(result):
        if type(item) is not dict or type(item.get("experimentId")) is not str:
            raise InvalidListError(
                f"result.{index} is not an experiment (an object with a string experimentId): "
                f"{str(item)[:80]!r}"
            )
    return ExperimentList(result)

"""The queue's policy: oldest first, backfilled, and no one overtaken for ever.

Queued experiments are kept in the order they were accepted. Whenever something may have
changed (an experiment queued, one ended), every queued experiment whose whole gang fits
what is free now starts, oldest first: a small experiment does not wait behind a big one
that does not fit yet (it *backfills* the room, as a cluster scheduler does). But an
experiment that has waited longer than the *window* (the ``backfill-window`` setting, ten
minutes unless told) is no longer overtaken: nothing queued behind it starts before it.

>>> queue = BackfillQueue(window=600.0)
>>> queue.add(Waiting("big", replicas=1, accepted=0.0))
>>> queue.add(Waiting("small", replicas=1, accepted=10.0))
>>> fits = lambda item: item.experiment_id == "small"
>>> [item.experiment_id for item in queue.startable(fits, now=100.0)]
['small']
>>> [item.experiment_id for item in queue.startable(fits, now=700.0)]
[]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from submarine.server.run.capacity import Request

__all__ = ["BackfillQueue", "Waiting", "format_window"]


def format_window(seconds: float) -> str:
    """A span of seconds as people say it.

    >>> format_window(600), format_window(90), format_window(0.05)
    ('10 minutes', '90 seconds', '0.05 seconds')
    """
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


@dataclass(frozen=True)
class Waiting:
    """A queued experiment as the policy sees it."""

    experiment_id: str
    """The experiment."""
    request: Request = field(default_factory=Request)
    """What its replicas ask for, in all."""
    replicas: int = 1
    """How many replicas it runs."""
    accepted: float = 0.0
    """When the server accepted it (seconds since the epoch)."""


class BackfillQueue:
    """The experiments that wait to start, oldest first.

    Args:
        window: seconds after which a waiting experiment is no longer overtaken.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._items: dict[str, Waiting] = {}

    def __contains__(self, experiment_id: object) -> bool:
        return experiment_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def ids(self) -> list[str]:
        """The queued experiments, oldest first."""
        return list(self._items)

    def items(self) -> list[Waiting]:
        """The queued experiments, oldest first."""
        return list(self._items.values())

    def get(self, experiment_id: str) -> Waiting | None:
        """A queued experiment, or None."""
        return self._items.get(experiment_id)

    def add(self, item: Waiting) -> None:
        """Queue ``item`` in accepted order (an experiment queued again keeps its place
        among those accepted before and after it)."""
        self._items[item.experiment_id] = item
        if any(other.accepted > item.accepted for other in self._items.values()):
            self._items = dict(sorted(self._items.items(), key=lambda kv: kv[1].accepted))

    def replace(self, item: Waiting) -> None:
        """Update a queued experiment (its spec changed), keeping its place."""
        if item.experiment_id in self._items:
            self._items[item.experiment_id] = item

    def remove(self, experiment_id: str) -> None:
        """Take an experiment off the queue (nothing happens if it is not queued)."""
        self._items.pop(experiment_id, None)

    def overdue(self, item: Waiting, now: float) -> bool:
        """Whether ``item`` has waited longer than the window."""
        return now - item.accepted >= self.window

    def reason(
        self,
        item: Waiting,
        shortfalls: list[str],
        position: int,
        held: str | None,
        now: float,
        *,
        starting: bool = False,
    ) -> str:
        """Why ``item`` waits, in one line: what it needs (``shortfalls``), whether it is
        overdue or ``held`` back by one that is, its ``position`` and whether the server is
        ``starting``.

        >>> BackfillQueue(600.0).reason(Waiting("b"), ["needs 2 cpus, 1 free"], 1, None, 0.0)
        'needs 2 cpus, 1 free; 1 experiment ahead'
        """
        reasons = list(shortfalls)
        window = format_window(self.window)
        if reasons and self.overdue(item, now):
            reasons.append(f"waited over {window}: nothing queued after it starts first")
        elif not reasons and held is not None and held != item.experiment_id:
            reasons.append(f"{held} waited over {window} and starts first")
        if position:
            reasons.append(f"{position} experiment{'s' if position > 1 else ''} ahead")
        if starting:
            reasons.append("the server is starting")
        return "; ".join(reasons) or "it starts now"

    def blocker(self, fits: Callable[[Waiting], bool], now: float) -> Waiting | None:
        """The oldest experiment that does not fit and has waited longer than the window:
        nothing queued behind it starts before it. None when there is none."""
        for item in self._items.values():
            if not fits(item) and self.overdue(item, now):
                return item
        return None

    def startable(self, fits: Callable[[Waiting], bool], now: float) -> Iterator[Waiting]:
        """The experiments that may start now, oldest first, each one that fits when it
        is its turn (the caller starts it before asking for the next, so that what it
        takes is no longer free), up to the first overdue one that does not fit."""
        for item in list(self._items.values()):
            if item.experiment_id not in self._items:
                continue  # taken off meanwhile
            if fits(item):
                yield item
            elif self.overdue(item, now):
                return

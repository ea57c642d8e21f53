"""Long polls that cost nothing while they wait: one watcher for every waiting follower.

A follower of the log-stream extension waits until its experiment has new output or a
new status. Replicas write their logs straight to files, so somebody has to look at the
files; when every follower looked for itself, ten times a second on the event loop, 100
idle followers took about half a core. Here each waiter sleeps on a future of its own,
and one task per server (:class:`Watch`) wakes once per interval, or at once when any
experiment changes, runs the checks of every distinct thing waited for in one worker
thread (followers of the same experiment from the same cursor share one check), and
answers the waiters whose check came true. Nothing runs while nobody waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Final, Protocol

__all__ = ["INTERVAL", "ChangeSignal", "Changes", "Watch"]

logger = logging.getLogger(__name__)

INTERVAL: Final = 0.1
"""Seconds between two looks at what followers wait for (changes wake the watch sooner)."""


class ChangeSignal(Protocol):
    """Something that says when anything changed (statuses, specs, stops)."""

    def wait(self, timeout: float) -> Awaitable[None]:
        """Return after a change, or after ``timeout`` seconds."""


class Changes:
    """A counter per experiment, bumped on every change (status, spec, stop), that waiters
    compare before and after a wait; one event wakes them all."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._changed = asyncio.Event()

    def version(self, experiment_id: str) -> int:
        """How many changes the experiment has seen."""
        return self._versions.get(experiment_id, 0)

    def bump(self, experiment_id: str) -> None:
        """Count a change of the experiment and wake every waiter."""
        self._versions[experiment_id] = self.version(experiment_id) + 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a change of any experiment."""
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except asyncio.TimeoutError:
            return


@dataclass
class _Group:
    """The waiters that wait for the same thing, and the check that says it happened."""

    check: Callable[[], bool]
    waiters: set[asyncio.Future[None]] = field(default_factory=set)


class Watch:
    """Wakes waiters when their check comes true, looking for all of them at once.

    >>> watch = Watch(changes)                                        # doctest: +SKIP
    >>> await watch.wait(("exp-1", cursor), has_new_lines, timeout=30)  # doctest: +SKIP

    Args:
        changes: wakes the watch early (a change may make a check true).
        interval: seconds between looks when nothing changes.
    """

    def __init__(self, changes: ChangeSignal, interval: float = INTERVAL) -> None:
        self._changes = changes
        self._interval = interval
        self._groups: dict[Hashable, _Group] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """How many waiters are waiting."""
        return sum(len(group.waiters) for group in self._groups.values())

    async def wait(self, key: Hashable, check: Callable[[], bool], timeout: float) -> None:
        """Return once ``check()`` is true (looked at from a worker thread, shared by every
        waiter of the same ``key``), or after ``timeout`` seconds."""
        if timeout <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        group = self._groups.setdefault(key, _Group(check))
        group.waiters.add(future)
        self._start()
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return
        finally:
            group.waiters.discard(future)
            if not group.waiters and self._groups.get(key) is group:
                del self._groups[key]

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._groups:
            await self._changes.wait(self._interval)
            groups = list(self._groups.values())
            if not groups:
                break
            try:
                ready = await asyncio.to_thread(_checked, [g.check for g in groups])
            except Exception:  # a failing check must not end every follower's wait
                logger.exception("looking for new log output failed")
                ready = [True] * len(groups)
            for group, happened in zip(groups, ready, strict=True):
                if happened:
                    for future in group.waiters:
                        if not future.done():
                            future.set_result(None)

    async def close(self) -> None:
        """Answer every waiter now and stop looking."""
        for group in self._groups.values():
            for future in group.waiters:
                if not future.done():
                    future.set_result(None)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _checked(checks: list[Callable[[], bool]]) -> list[bool]:
    results = []
    for check in checks:
        try:
            results.append(bool(check()))
        except Exception:
            logger.exception("a follower's check failed: answering it")
            results.append(True)
    return results

"""The blocking client's deadlines, kept while httpx waits inside a read.

httpx gives each read of a socket its own timeout, so a server that sends a byte every
second keeps a call going for ever. One daemon thread, shared by every blocking client
and started with the first call that has a deadline, wakes when the earliest deadline of
the calls under way passes and shuts that call's socket down (:meth:`Budget.fire`): the
read waiting on it ends at once, and the call raises ``DeadlineExceededError``.

A call's socket is known once it connects (httpx's ``trace`` extension) or once the
answer's headers came. Before that, a call on a pooled connection has a socket among its
client's: when it is the client's only call under way, they are all shut (the others are
idle, and the pool replaces them); when other calls are under way too, it is ended by its
read timeout, which the client caps at what is left of the deadline when the attempt
starts.
"""

from __future__ import annotations

import math
import threading
import time

from submarine.client._deadline import Budget

__all__ = ["unwatch", "watch"]


class _Watchdog:
    """Fires the budgets of calls under way whose deadline passed."""

    def __init__(self) -> None:
        self._wake = threading.Condition(threading.Lock())
        self._budgets: dict[Budget, float] = {}
        """The budgets watched, and when each one's deadline passes."""
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf

    def add(self, budget: Budget) -> None:
        """Watch a call's budget until :meth:`discard` (or until it fires)."""
        end = budget.end
        assert end is not None
        with self._wake:
            self._budgets[budget] = end
            if self._thread is None or not self._thread.is_alive():  # first, or forked
                self._thread = threading.Thread(
                    target=self._run, name="submarine-deadlines", daemon=True
                )
                self._thread.start()
            if end < self._wake_at:
                self._wake_at = end
                self._wake.notify()

    def discard(self, budget: Budget) -> None:
        """Stop watching a call's budget: the call is over."""
        with self._wake:
            self._budgets.pop(budget, None)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                due = [budget for budget, end in self._budgets.items() if end <= now]
                for budget in due:
                    del self._budgets[budget]
                    budget.fire()
                self._wake_at = min(self._budgets.values(), default=math.inf)
                self._wake.wait(None if math.isinf(self._wake_at) else self._wake_at - now)


_WATCHDOG = _Watchdog()


def watch(budget: Budget) -> None:
    """Shut the call's socket when its deadline passes, unless :func:`unwatch` came first."""
    if budget.end is not None:
        if budget.sockets is not None:
            budget.sockets.begin()
        _WATCHDOG.add(budget)


def unwatch(budget: Budget) -> None:
    """The call is over: forget its deadline and never shut its socket."""
    budget.close()
    if budget.end is not None:
        _WATCHDOG.discard(budget)
        if budget.sockets is not None:
            budget.sockets.end()

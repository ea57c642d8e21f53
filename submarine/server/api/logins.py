"""A limit on failed logins per client address, for ``POST /api/auth/token``.

Without it a client could try passwords as fast as the server answers (777 a second).
:class:`FailureLimit` counts failures per address in a sliding window; once an address
has failed ``max_failures`` times within ``window`` seconds, it is refused (429, with the
seconds to wait) until the oldest of those failures leaves the window. A success clears
the address's count. Memory is bounded: at most ``max_failures`` times per address and
``max_addresses`` addresses (the least recently failing ones are forgotten first).

Attempts are held before their body is read (:meth:`FailureLimit.reserve`) and attempts in
flight count against the budget: checking before the read and counting after let 200
concurrent guesses all pass the check, and all be evaluated.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Final

__all__ = ["LOGIN_FAILURES", "LOGIN_WINDOW", "FailureLimit"]

LOGIN_FAILURES: Final = 10
"""Failed logins an address may make within :data:`LOGIN_WINDOW`."""
LOGIN_WINDOW: Final = 60.0
"""Seconds a failed login counts against its address."""


class FailureLimit:
    """Failures per key (a client address) in a sliding window.

    >>> now = [0.0]
    >>> limit = FailureLimit(2, 60.0, clock=lambda: now[0])
    >>> limit.failed("10.0.0.1"), limit.failed("10.0.0.1")
    (1, 2)
    >>> limit.retry_after("10.0.0.1"), limit.retry_after("10.0.0.2")
    (60, None)
    >>> now[0] = 60.5
    >>> limit.retry_after("10.0.0.1") is None
    True

    Args:
        max_failures: failures allowed within the window.
        window: seconds a failure counts.
        max_addresses: keys remembered at most.
        clock: seconds, monotonic (for tests).
    """

    def __init__(
        self,
        max_failures: int = LOGIN_FAILURES,
        window: float = LOGIN_WINDOW,
        *,
        max_addresses: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window
        self._max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._pending: dict[str, int] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque(maxlen=self._max)
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None when it may now (attempts
        in flight count as failures until they end)."""
        now = self._clock()
        times = self._recent(key, now)
        if len(times) + self._pending.get(key, 0) < self._max:
            return None
        if len(times) < self._max:
            return 1  # attempts in flight end within a body deadline
        return max(1, math.ceil(times[0] + self._window - now))

    def reserve(self, key: str) -> int | None:
        """Hold one of ``key``'s attempts before anything of it is read: None when it is
        held (end it with :meth:`release`), else the seconds to wait, as
        :meth:`retry_after`.

        >>> limit = FailureLimit(1, 60.0, clock=lambda: 0.0)
        >>> limit.reserve("a"), limit.reserve("a"), limit.reserve("b")
        (None, 1, None)
        >>> limit.release("a", failed=True), limit.reserve("a")
        (1, 60)
        """
        wait = self.retry_after(key)
        if wait is None:
            self._pending[key] = self._pending.get(key, 0) + 1
        return wait

    def release(self, key: str, *, failed: bool | None) -> int:
        """End an attempt :meth:`reserve` held: count it as a failure (True), clear the
        key's failures on a success (False), or neither (None: nothing was evaluated).
        Answers the failures of ``key`` within the window now."""
        held = self._pending.get(key, 0) - 1
        if held > 0:
            self._pending[key] = held
        else:
            self._pending.pop(key, None)
        if failed:
            return self.failed(key)
        if failed is False:
            self.succeeded(key)
            return 0
        return len(self._recent(key, self._clock()))

    def failed(self, key: str) -> int:
        """Count a failure of ``key``; how many it has within the window now."""
        now = self._clock()
        times = self._recent(key, now)
        times.append(now)
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)
        return len(times)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key``."""
        self._failures.pop(key, None)

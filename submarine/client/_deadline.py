"""A call's deadline: every attempt, the pauses between them and the whole answer.

``deadline=`` of a client is resolved here (:func:`resolve_deadline`), and a
:class:`Budget` is what is left of it for one call. The clients cap each attempt's
timeouts at what is left (:func:`capped`), the answer's stream checks it after every
piece (:mod:`submarine.client._limits`), the asyncio client runs the call in a cancel
scope and the blocking client's connections wait no longer than what is left
(:mod:`submarine.client._network`), so a server that drips a byte a second, never long
enough apart to trip a read timeout, cannot hold a call past its deadline.
"""

from __future__ import annotations

import math
import time
from typing import Final

import httpx

from submarine.client.config import Timeout, redact_url
from submarine.client.errors import DeadlineExceededError

__all__ = [
    "AUTO",
    "DEADLINE_READS",
    "Budget",
    "capped",
    "longest_wait",
    "resolve_deadline",
]

AUTO: Final = "auto"
"""The default ``deadline=``: derived from the timeout (see :func:`resolve_deadline`)."""
DEADLINE_READS: Final = 3
"""The default deadline is this many read timeouts, plus the connect timeout."""
_DEADLINE_GRACE: Final = 0.05
"""A timeout this close to the deadline is the deadline (a read capped at what was left)."""


def resolve_deadline(deadline: object, timeout: Timeout) -> float | None:
    """A call's deadline in seconds from ``deadline=``, or None for none.

    ``"auto"`` (the default) is :data:`DEADLINE_READS` read timeouts plus the connect
    timeout (185 s for the default timeout, 20 s for ``timeout=5``), none when the read
    timeout is None; a number of seconds above 0 is used as is; None is no deadline.

    >>> resolve_deadline("auto", Timeout.of(5))
    20.0
    """
    if deadline is None:
        return None
    if isinstance(deadline, str) and deadline == AUTO:
        if timeout.read is None:
            return None
        return DEADLINE_READS * timeout.read + (timeout.connect or 0.0)
    if (
        isinstance(deadline, bool)
        or not isinstance(deadline, (int, float))
        or math.isnan(deadline)
        or deadline <= 0
    ):
        raise ValueError(
            f"deadline must be a number of seconds above 0, {AUTO!r} (the default: "
            f"{DEADLINE_READS} read timeouts plus the connect timeout) or None for no "
            f"deadline, got {deadline!r}"
        )
    return None if math.isinf(deadline) else float(deadline)


def longest_wait(timeout: Timeout) -> float:
    """The longest phase of a timeout (infinite when one has no limit)."""
    phases = timeout.as_dict().values()
    return math.inf if None in phases else max(value for value in phases if value is not None)


def capped(timeout: Timeout, left: float) -> httpx.Timeout:
    """An attempt's timeouts: each phase's, but no longer than the ``left`` seconds."""
    left = max(left, 0.0)
    return httpx.Timeout(
        **{
            name: left if value is None else min(value, left)
            for name, value in timeout.as_dict().items()
        }
    )


class Budget:
    """What is left of one call's deadline.

    :param seconds: the deadline, from now; None for no deadline.
    """

    __slots__ = ("end", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds
        """When the call must be over, on ``time.monotonic()``'s clock."""

    def left(self) -> float | None:
        """Seconds left (0 or less once passed); None without a deadline."""
        return None if self.end is None else self.end - time.monotonic()

    def expired(self, grace: float = 0.0) -> bool:
        """Whether the deadline has passed (or will within ``grace`` seconds)."""
        return self.end is not None and time.monotonic() + grace >= self.end

    def timed_out(self, exc: BaseException) -> bool:
        """Whether a transport error means that the deadline passed: it passed, or the
        error is a timeout of a wait that was capped at what was left."""
        grace = _DEADLINE_GRACE if isinstance(exc, httpx.TimeoutException) else 0.0
        return self.expired(grace)

    def error(self, method: str, url: str) -> DeadlineExceededError:
        """The error of a call past its deadline."""
        return DeadlineExceededError(self.seconds or 0.0, method=method, url=redact_url(url))

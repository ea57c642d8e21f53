"""A call's deadline: every attempt, the pauses between them and the whole answer.

``deadline=`` of a client is resolved here (:func:`resolve_deadline`), and a
:class:`Budget` is what is left of it for one call. The clients cap each attempt's
timeouts at what is left (:func:`capped`), the answer's stream checks it after every
piece (:mod:`submarine.client._limits`), and the asyncio client runs the call in a cancel
scope; the blocking client's watchdog (:mod:`submarine.client._watchdog`) shuts the
call's socket when it passes, so a server that drips a byte a second, never long enough
apart to trip a read timeout, cannot hold a call past its deadline.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, Final

import httpx

from submarine.client.config import Timeout, redact_url
from submarine.client.errors import DeadlineExceededError

__all__ = [
    "AUTO",
    "DEADLINE_READS",
    "Budget",
    "Sockets",
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


class Sockets:
    """The sockets of one blocking client's connections, and how many of its calls with a
    deadline are under way: what its watchdog may shut when a call's own socket is not
    known (a pooled connection whose answer has not begun)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._calls = 0

    def begin(self) -> None:
        """A call with a deadline starts."""
        with self._lock:
            self._calls += 1

    def end(self) -> None:
        """A call with a deadline is over."""
        with self._lock:
            self._calls -= 1

    def add(self, sock: socket.socket) -> None:
        """A socket of one of the client's connections."""
        with self._lock:
            self._known.add(sock)

    def shut_if_alone(self) -> None:
        """Shut every socket of the client when one call only is under way: the one whose
        deadline passed, on one of them. The others are idle in the pool, which drops a
        connection whose server hung up and makes a new one."""
        with self._lock:
            if self._calls == 1:
                for sock in list(self._known):
                    _shut(sock)


class Budget:
    """What is left of one call's deadline, and the socket to shut when it passes.

    :param seconds: the deadline, from now; None for no deadline.
    :param sockets: the blocking client's sockets (its watchdog uses them).
    """

    __slots__ = ("_lock", "_over", "_socket", "end", "fired", "seconds", "sockets")

    def __init__(self, seconds: float | None, sockets: Sockets | None = None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds
        """When the call must be over, on ``time.monotonic()``'s clock."""
        self.sockets = sockets
        self.fired = False
        """Whether the watchdog saw the deadline pass while the call went on."""
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._over = False

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
        return self.fired or self.expired(grace)

    def error(self, method: str, url: str) -> DeadlineExceededError:
        """The error of a call past its deadline."""
        return DeadlineExceededError(self.seconds or 0.0, method=method, url=redact_url(url))

    def attempt(self) -> float | None:
        """Start an attempt (its socket not known yet); the seconds left, or None without
        a deadline."""
        if self.end is None:
            return None
        with self._lock:
            self._socket = None
        return self.end - time.monotonic()

    # -- the socket, for the blocking client's watchdog ---------------------------------

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpx's ``trace`` extension: keep the socket of a connection made for the call."""
        if event in ("connection.connect_tcp.complete", "connection.connect_unix_socket.complete"):
            self.hold(info.get("return_value"))

    def hold(self, stream: object) -> None:
        """Keep the socket of a network stream the call uses (shut at once if too late)."""
        extra = getattr(stream, "get_extra_info", None)
        sock = extra("socket") if callable(extra) else None
        if not isinstance(sock, socket.socket):
            return
        if self.sockets is not None:
            self.sockets.add(sock)
        with self._lock:
            if self._over:
                return
            self._socket = sock
            if self.fired:
                _shut(sock)

    def fire(self) -> None:
        """The deadline passed: shut the call's socket, which ends a read waiting on it."""
        with self._lock:
            self.fired = True
            if self._over:
                return
            if self._socket is not None:
                _shut(self._socket)
            elif self.sockets is not None:
                self.sockets.shut_if_alone()

    def close(self) -> None:
        """The call is over: its socket (back in the pool) is never shut from here."""
        with self._lock:
            self._over = True
            self._socket = None


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: ssl.SSLSocket.shutdown would
    # drop the TLS state under the thread reading from it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)

"""Connection limits of the local server: deadlines for request headers and bodies and a
bound on open connections, below uvicorn's HTTP protocol.

uvicorn times out nothing before a request's headers are complete: a connection that
sends nothing, or a byte now and then, stays open for ever, and enough of them use up the
process's file descriptors before any route (or token check) sees a request. Then every
``accept()`` fails, and asyncio logs a traceback per failure.

:func:`guarded_protocol` makes an h11 protocol class (uvicorn's ``http=`` setting) that

* closes a connection that has not sent a request's complete headers ``header_timeout``
  seconds after it opened, or after the previous answer (a keep-alive connection must
  send its next request in that time too, however slowly it dribbles bytes);
* closes a connection that has not sent a request's complete body ``body_timeout``
  seconds after its headers, whether a handler waits for the body or was answered
  without it (a 401 before the body is read): connections that sent headers and then
  withheld the body used to be kept for ever, and 128 of them took every slot;
* after an answer sent before the body was read, drops what is left of the body up to
  :data:`DISCARD_BYTES` (so that a client still sending reads the answer, not a reset),
  and closes the connection past that;
* lets the app answer a request from its first bytes, below HTTP parsing and the app
  (``early_answer``): a locked-out address's logins, which an attacker sends as fast as
  it can, cost a few string tests instead of a request's whole way through the app, and
  the connection is closed once the client has read the answer (its body dropped, up to
  :data:`DISCARD_BYTES`, within the body deadline);
* keeps at most ``max_connections`` open: past it, of the connections that wait for their
  client (no request yet, or a body still to come), the one that sent nothing for the
  longest is closed to make room; a newcomer is refused only when every other one is
  busy (its request in a handler's hands).

:func:`quiet_accept_errors` makes the loop log "out of file descriptors" once, without a
traceback, instead of once per failed ``accept()``.

uvicorn's options cannot do this (``timeout_keep_alive`` starts after a first answer and a
byte now and then resets it; ``limit_concurrency`` answers 503 but keeps every connection
open), so the guard extends uvicorn's h11 protocol, which is no public API: the ``server``
extra bounds uvicorn to the minor versions it is tested with, and :func:`guarded_protocol`
refuses to start, naming what is missing (:func:`missing_internals`), on a uvicorn that
changed it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Final, TypeAlias

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from submarine.server.errors import ServerStartError

__all__ = [
    "EarlyAnswer",
    "default_max_connections",
    "guarded_protocol",
    "missing_internals",
    "quiet_accept_errors",
]

logger = logging.getLogger(__name__)

FD_RESERVE: Final = 128
"""File descriptors left for everything but connections (the database, logs, processes)."""
MAX_DEFAULT_CONNECTIONS: Final = 1024
"""The most connections the default bound allows, whatever the open-file limit."""
_ACCEPT_REPORT_EVERY: Final = 60.0
"""Seconds between two log lines about failing accepts."""
DISCARD_BYTES: Final = 2 << 20
"""The most bytes of a body dropped after its request was answered without reading it."""


EarlyAnswer: TypeAlias = Callable[
    [bytes, tuple[str, int] | None, tuple[str, int | None] | None], bytes | None
]
"""Given the first bytes of a request (at least its request line, when the client sent it
in one piece), the client's and the server's address: the whole HTTP answer to send
without parsing the request, or None to let it take its normal way."""

_EXTENDED: Final = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_response_complete",
    "send_400_response",
)
"""The methods of uvicorn's ``H11Protocol`` the guard overrides."""
_READ: Final = ("conn", "connections", "loop", "transport", "client", "server")
"""The attributes of an ``H11Protocol`` the guard reads (set in ``__init__`` or
``connection_made``)."""


def missing_internals(protocol: type[Any] = H11Protocol) -> list[str]:
    """What the guard extends of uvicorn's h11 protocol and ``protocol`` lacks; empty when
    everything is there.

    >>> missing_internals()
    []
    """
    missing = [f"{name}()" for name in _EXTENDED if not callable(getattr(protocol, name, None))]
    names: set[str] = set()
    for method in ("__init__", "connection_made"):
        code = getattr(getattr(protocol, method, None), "__code__", None)
        names.update(code.co_names if code is not None else ())
    missing += [f"self.{name}" for name in _READ if name not in names]
    return missing


def default_max_connections() -> int:
    """A bound on connections that leaves file descriptors for everything else.

    >>> 1 <= default_max_connections() <= MAX_DEFAULT_CONNECTIONS
    True
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_DEFAULT_CONNECTIONS
    return max(8, min(MAX_DEFAULT_CONNECTIONS, soft - FD_RESERVE, soft // 2 + 8))


class _GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and a bound on open
    connections."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    max_connections: ClassVar[int] = MAX_DEFAULT_CONNECTIONS
    waiting: ClassVar[dict[_GuardedProtocol, None]] = {}
    """Open connections that wait for their client (headers or a body), the one silent
    for the longest first: these make room at the bound."""
    closed_for_headers: ClassVar[int] = 0
    closed_for_body: ClassVar[int] = 0
    closed_for_room: ClassVar[int] = 0
    closing: ClassVar[int] = 0
    """Connections this guard closed whose loss uvicorn has not seen yet."""
    early_answer: ClassVar[EarlyAnswer | None] = None
    answered_early: ClassVar[int] = 0

    _deadline: asyncio.TimerHandle | None = None
    _awaiting: object = None
    """What the deadline is for: ``h11.IDLE`` (headers), ``h11.SEND_BODY`` (a body)."""
    _discarded: int | None = None
    """Body bytes received after an answer sent before the body was read (else None)."""
    _closed_here: bool = False
    _early: bool = False
    """Whether the connection's request was answered from its first bytes (what follows
    is dropped)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the connection (making room if needed) and start its header deadline."""
        transport = typing.cast(asyncio.Transport, transport)
        cls = type(self)
        while self._open_count() >= cls.max_connections and cls.waiting:
            oldest = next(iter(cls.waiting))
            cls.closed_for_room += 1
            oldest._close("the connection limit was reached")
        super().connection_made(transport)
        if self._open_count() > cls.max_connections:
            cls.closed_for_room += 1
            if cls.closed_for_room == 1 or cls.closed_for_room % 1000 == 0:
                logger.warning(
                    "all %d connections (the limit) are busy: refusing new ones (%d so far)",
                    cls.max_connections,
                    cls.closed_for_room,
                )
            self._close("every connection is busy")
            return
        self._follow()

    def _open_count(self) -> int:
        """Connections open and not being closed by this guard."""
        return len(self.connections) - type(self).closing

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        self._stop_deadline()
        type(self).waiting.pop(self, None)
        if self._closed_here:
            self._closed_here = False
            type(self).closing -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser (past :data:`DISCARD_BYTES` of an answered request's body,
        close instead); then follow what the connection waits for."""
        if self._discarded is not None:
            self._discarded += len(data)
            if self._discarded > DISCARD_BYTES:
                self._close("a body of more than the bound after its request was answered")
                return
        if self._early:
            return
        early = type(self).early_answer
        if (
            early is not None
            and self.conn.their_state is h11.IDLE
            and self.conn.our_state is h11.IDLE
            and not self.conn.trailing_data[0]
        ):
            answer = early(data, self.client, self.server)
            if answer is not None:
                self._answer_early(answer)
                return
        super().data_received(data)
        if self.transport.is_closing():
            return
        waiting = type(self).waiting
        if self in waiting:  # a byte came: it goes to the back of the eviction order
            waiting[self] = waiting.pop(self)
        self._follow()

    def on_response_complete(self) -> None:
        """After an answer: the next request's headers have the same deadline; a body
        still coming is dropped (bounded), its deadline running on."""
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY and self._discarded is None:
            self._discarded = 0
        self._follow()

    def send_400_response(self, msg: str) -> None:
        """Answer an invalid request with a 400, or, when an answer was already sent
        (the body came after it, and went wrong), close the connection: uvicorn would
        try a second answer and log a traceback of the failure."""
        try:
            super().send_400_response(msg)
        except h11.LocalProtocolError:
            self._close("an invalid request body after its answer")

    def _follow(self) -> None:
        """Start or stop the deadline that fits what the connection waits for: headers
        (their side idle), a body (their side sending one), or nothing (a handler has the
        request)."""
        if self._early:
            return  # its deadline runs until the client closes
        state = self.conn.their_state
        awaiting = state if state in (h11.IDLE, h11.SEND_BODY) else None
        if awaiting is self._awaiting:
            return  # the deadline that runs is the right one: a byte does not restart it
        self._stop_deadline()
        self._awaiting = awaiting
        waiting = type(self).waiting
        if state is h11.IDLE:
            self._discarded = None
            waiting[self] = None
            self._deadline = self.loop.call_later(type(self).header_timeout, self._late)
        elif state is h11.SEND_BODY:
            waiting[self] = None
            self._deadline = self.loop.call_later(type(self).body_timeout, self._late)
        else:
            waiting.pop(self, None)

    def _answer_early(self, answer: bytes) -> None:
        """Send ``answer`` and the end of this side; drop what the client sends (bounded)
        until it closes, or the body deadline closes the connection."""
        type(self).answered_early += 1
        self._early = True
        self._discarded = 0
        self._stop_deadline()
        self.transport.write(answer)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        waiting = type(self).waiting
        waiting.pop(self, None)
        waiting[self] = None
        self._deadline = self.loop.call_later(
            type(self).body_timeout, self._close, "no end of a request answered early in time"
        )

    def _stop_deadline(self) -> None:
        self._awaiting = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is not self._awaiting:
            return
        if self._awaiting is h11.IDLE:
            type(self).closed_for_headers += 1
            self._close("no complete request headers in time")
        else:
            type(self).closed_for_body += 1
            self._close("no complete request body in time")

    def _close(self, why: str) -> None:
        logger.debug("closing a connection from %s: %s", self.client, why)
        self._stop_deadline()
        type(self).waiting.pop(self, None)
        if not self._closed_here and self in self.connections:
            self._closed_here = True
            type(self).closing += 1
        if not self.transport.is_closing():
            self.transport.abort()  # no lingering: the descriptor is freed now


def guarded_protocol(
    header_timeout: float,
    max_connections: int,
    body_timeout: float = 30.0,
    early_answer: EarlyAnswer | None = None,
) -> type[H11Protocol]:
    """An h11 protocol class for ``uvicorn.Config(http=...)`` with these limits (each
    server gets its own class, and so its own count of waiting connections).

    Args:
        header_timeout: seconds a connection has to send a request's complete headers.
        max_connections: open connections at most.
        body_timeout: seconds a request has to send its complete body, from its headers.
        early_answer: answers requests from their first bytes (see :data:`EarlyAnswer`).

    Raises:
        ServerStartError: the installed uvicorn lacks what the guard extends.
    """
    missing = missing_internals()
    if missing:
        raise ServerStartError(
            f"uvicorn {uvicorn.__version__} changed the h11 protocol the server's connection "
            f"guard extends (missing: {', '.join(missing)}): install the uvicorn the "
            "'server' extra asks for (pip install 'submarine-sdk[server]')"
        )

    class GuardedH11Protocol(_GuardedProtocol):
        __doc__ = _GuardedProtocol.__doc__

    GuardedH11Protocol.header_timeout = header_timeout
    GuardedH11Protocol.body_timeout = body_timeout
    GuardedH11Protocol.max_connections = max_connections
    GuardedH11Protocol.waiting = {}
    GuardedH11Protocol.early_answer = early_answer
    return GuardedH11Protocol


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log failing ``accept()`` calls (out of file descriptors, mostly) once a minute, in one
    line without a traceback; hand every other loop error to the default handler.

    asyncio stops accepting for a second after such a failure and tries again, so the
    server recovers by itself once connections close.
    """
    state: dict[str, Any] = {"last": -_ACCEPT_REPORT_EVERY, "count": 0}

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and "accept" in str(context.get("message", ""))):
            loop.default_exception_handler(context)
            return
        state["count"] += 1
        now = time.monotonic()
        if now - state["last"] < _ACCEPT_REPORT_EVERY:
            return
        state["last"] = now
        reason = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        logger.error(
            "cannot accept connections (%s: %s; %d time(s) so far): too many are open; "
            "accepting again as they close",
            reason,
            exc.strerror,
            state["count"],
        )

    loop.set_exception_handler(handler)

"""The blocking client's deadlines, kept by every wait on its sockets.

httpx gives each read of a socket its own timeout, so a server that sends a byte every
second keeps a call going for ever. The blocking client sends a call's requests in the
thread that makes the call, and httpcore reads and writes its sockets in that thread
too: so the client's connection pools use :class:`CappedBackend`, whose connections,
TLS handshakes, reads and writes wait no longer than what is left of the deadline of the
call the thread is making (:func:`within`). Once nothing is left they raise httpcore's
timeout, which httpx raises as its own (``httpx.ReadTimeout``...), and the client as
``DeadlineExceededError``: on a new connection or a pooled one, with any number of calls
under way in other threads.

A wait outside a call (an artifact's download, written to disk as it comes) is not
capped.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
from collections.abc import Iterable, Iterator
from typing import Any, Final

import httpcore
import httpx

from submarine.client._deadline import Budget

__all__ = ["CappedBackend", "CappedStream", "cap_waits", "within"]

_CALL: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "submarine_call_budget", default=None
)
"""The budget of the call this thread is making, if any."""
_PIECE: Final = 1 << 16
"""A write is made this many bytes at a time, each capped at what is left then."""


@contextlib.contextmanager
def within(budget: Budget) -> Iterator[None]:
    """Cap every wait of this thread on a client's sockets at what is left of ``budget``
    (nothing is capped when it has no deadline)."""
    token = _CALL.set(None if budget.end is None else budget)
    try:
        yield
    finally:
        _CALL.reset(token)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout``, no longer than what is left of the thread's call; ``error`` when
    nothing is."""
    budget = _CALL.get()
    if budget is None:
        return timeout
    left = budget.left()
    assert left is not None
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class CappedStream(httpcore.NetworkStream):
    """A connection whose every wait is capped at what is left of the thread's call."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read what came, up to ``max_bytes``, waiting no longer than the deadline."""
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send ``buffer``, a piece at a time, each waiting no longer than the deadline."""
        for start in range(0, len(buffer), _PIECE):
            piece = buffer[start : start + _PIECE]
            self._stream.write(piece, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        """Close the connection."""
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        """Speak TLS over the connection, the handshake within the deadline."""
        stream = self._stream.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return CappedStream(stream)

    def get_extra_info(self, info: str) -> Any:
        """What the connection underneath says (its socket, whether it is readable...)."""
        return self._stream.get_extra_info(info)


class CappedBackend(httpcore.NetworkBackend):
    """httpcore's backend of a pool, with every connection made and every wait capped at
    what is left of the thread's call.

    :param backend: the backend it wraps (httpcore's own).
    """

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect within the deadline."""
        stream = self._backend.connect_tcp(
            host,
            port,
            _left(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return CappedStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect within the deadline."""
        stream = self._backend.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options=socket_options
        )
        return CappedStream(stream)

    def sleep(self, seconds: float) -> None:
        """Sleep (between httpcore's connection retries, which the client does not ask)."""
        self._backend.sleep(seconds)


def cap_waits(client: httpx.Client) -> None:
    """Give the connection pools of ``client`` (those of its transport, an
    ``httpx.HTTPTransport``, and of the proxies it reaches hosts through) a
    :class:`CappedBackend`. Outside a call of this client's, it changes nothing.

    httpx takes no network backend: the pools are httpcore's, made by httpx's transports,
    and make each connection with the pool's backend at the time; none was made yet.
    """
    for transport in [client._transport, *client._mounts.values()]:
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore.ConnectionPool) and not isinstance(
            pool._network_backend, CappedBackend
        ):
            pool._network_backend = CappedBackend(pool._network_backend)

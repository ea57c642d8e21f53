"""A fault-injecting HTTP/1.1 proxy for tests: it sits between a client and a server on
127.0.0.1 and, request by request, passes, refuses, resets, delays or truncates.

The proxy runs an asyncio loop in a daemon thread, so tests drive it from plain
synchronous code. It understands just enough HTTP/1.1 to know where a request or a
response ends (``Content-Length``, ``chunked``, or the end of the connection), which is
what makes faults land on one *request* rather than on a whole keep-alive connection.

Every request that arrives gets a :class:`Fault`, chosen by, in order: the queue given
to :meth:`FaultProxy.plan`, the :attr:`FaultProxy.policy` callable (which sees the
request's number, its connection's number, the method and the path), and the default.

>>> with FaultProxy("127.0.0.1", 8080) as proxy:           # doctest: +SKIP
...     proxy.plan(Fault.reset(after=10), Fault.delay(2.0))
...     client = ExperimentClient(proxy.url)

Faults, and what the server and the client each see:

=====================  ==========================  ======================================
fault                  the server                  the client
=====================  ==========================  ======================================
``passthrough()``      the request                 the response
``refuse()``           nothing                     a reset before any answer; when it is
                                                   the next fault as a connection opens,
                                                   the reset comes at accept
``drop()``             nothing                     the request is read, then a reset
``reset(after=n)``     the request (it is served)  n bytes of the response, then a reset
``truncate(after=n)``  the request (it is served)  n bytes of the response, then EOF
``delay(seconds)``     the request (it is served)  the response, ``seconds`` late
``answer(status)``     nothing                     the proxy's own HTML page
=====================  ==========================  ======================================

:meth:`FaultProxy.close_listener` closes the listening socket (a true "connection
refused" for every new connection) and :meth:`FaultProxy.open_listener` opens it again
on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

__all__ = ["Fault", "FaultKind", "FaultProxy", "ProxiedRequest", "RequestInfo", "plan_of"]

_MAX_HEAD: Final = 1 << 16
_COPY_CHUNK: Final = 1 << 16


class FaultKind(enum.Enum):
    """What the proxy does with one request."""

    PASS = "pass"
    REFUSE = "refuse"
    DROP = "drop"
    RESET = "reset"
    TRUNCATE = "truncate"
    DELAY = "delay"
    ANSWER = "answer"


@dataclass(frozen=True)
class Fault:
    """One fault: a kind with its byte count or delay. Build it with the class methods."""

    kind: FaultKind
    after: int = 0
    """Bytes of the response sent before a reset or a truncation."""
    seconds: float = 0.0
    """How late the response is sent, for a delay."""
    status: int = 0
    """The status of the proxy's own answer."""
    body: bytes = b""
    """The body of the proxy's own answer."""

    @classmethod
    def passthrough(cls) -> Fault:
        """Forward the request and its response untouched."""
        return cls(FaultKind.PASS)

    @classmethod
    def refuse(cls) -> Fault:
        """Reset the connection before the request reaches the server (at accept if new)."""
        return cls(FaultKind.REFUSE)

    @classmethod
    def drop(cls) -> Fault:
        """Read the whole request, then reset without forwarding it."""
        return cls(FaultKind.DROP)

    @classmethod
    def reset(cls, after: int = 0) -> Fault:
        """Forward the request, send ``after`` bytes of the response, then reset (RST)."""
        return cls(FaultKind.RESET, after=after)

    @classmethod
    def truncate(cls, after: int) -> Fault:
        """Forward the request, send ``after`` bytes of the response, then close (FIN)."""
        return cls(FaultKind.TRUNCATE, after=after)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Forward the request, hold the response for ``seconds``, then send it."""
        return cls(FaultKind.DELAY, seconds=seconds)

    @classmethod
    def answer(cls, status: int, body: bytes = b"<html><body>Bad gateway</body></html>") -> Fault:
        """Answer in the proxy's name (an ingress's HTML 502/503/504) without forwarding."""
        return cls(FaultKind.ANSWER, status=status, body=body)

    @property
    def reaches_server(self) -> bool:
        """Whether the server sees the request under this fault."""
        return self.kind not in (FaultKind.REFUSE, FaultKind.DROP, FaultKind.ANSWER)

    @property
    def is_fault(self) -> bool:
        """Whether this is anything but a pass-through."""
        return self.kind is not FaultKind.PASS


@dataclass(frozen=True)
class RequestInfo:
    """What a policy sees of a request before choosing its fault."""

    number: int
    """0-based count of requests through this proxy (over every connection)."""
    connection: int
    """0-based count of the connection the request came on."""
    method: str
    """``GET``, ``POST``... (empty for the accept-time decision of a new connection)."""
    path: str
    """The request target, like ``/api/v1/experiment/ping``."""


@dataclass
class ProxiedRequest:
    """A request that went through the proxy, with the fault it got."""

    info: RequestInfo
    fault: Fault
    forwarded: bool = False
    """Whether the whole request was sent to the server."""
    status: int | None = None
    """The status of the server's response, when one came."""
    response_bytes: int = 0
    """The size of the server's whole response (head and body), when one came."""


Policy = Callable[[RequestInfo], Fault]


class _ClosedError(Exception):
    """The peer closed the connection before a whole message arrived."""


@dataclass
class _Message:
    head: bytes
    body: bytes
    start_line: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def raw(self) -> bytes:
        return self.head + self.body


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise _ClosedError from exc
    except asyncio.LimitOverrunError as exc:
        raise _ClosedError from exc


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, then the empty line
                trailer = await reader.readuntil(b"\r\n")
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))


async def _read_message(
    reader: asyncio.StreamReader, *, response_to: str | None = None
) -> _Message:
    """One whole HTTP/1.1 message; ``response_to`` is the request method for a response."""
    head = await _read_head(reader)
    start_line, headers = _parse_head(head)
    try:
        if response_to is not None:
            status = int(start_line.split(" ", 2)[1])
            if response_to == "HEAD" or status in (204, 304) or 100 <= status < 200:
                return _Message(head, b"", start_line, headers)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif response_to is not None:
            body = await reader.read()  # until the server closes
        else:
            body = b""
    except asyncio.IncompleteReadError as exc:
        raise _ClosedError from exc
    return _Message(head, body, start_line, headers)


def _page(status: int, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} Proxy Says So\r\nContent-Type: text/html\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0) rather than a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    transport.abort()


class FaultProxy:
    """A fault-injecting proxy on 127.0.0.1 in front of ``upstream_host:upstream_port``.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. ``url`` is what
    a client should talk to. Thread-safe: tests change the plan while requests flow.
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.default: Fault = Fault.passthrough()
        """The fault of a request nothing else chose one for."""
        self.policy: Policy | None = None
        """Chooses a request's fault when the plan is empty; None to use the default."""
        self.requests: list[ProxiedRequest] = []
        """Every request seen, in order of arrival."""
        self.refused_connections = 0
        """Connections reset at accept by a ``refuse()`` fault."""
        self._plan: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = 0
        self._numbers = 0

    # -- life cycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's base URL, like ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        """Start the loop thread and listen; returns self."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="faultproxy", daemon=True)
        self._thread.start()
        self.open_listener()
        return self

    def stop(self) -> None:
        """Stop listening, cut every connection and end the loop thread."""
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=10)
        loop.close()
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def open_listener(self) -> None:
        """Listen (again) on the proxy's port; the first call picks a free port."""
        self._run(self._listen())

    def close_listener(self) -> None:
        """Stop listening: new connections are refused by the kernel until reopened."""
        self._run(self._unlisten())

    # -- the plan --------------------------------------------------------------------

    def plan(self, *faults: Fault) -> None:
        """Queue faults for the next requests, in order; after them the policy/default."""
        with self._lock:
            self._plan.extend(faults)

    def clear(self) -> None:
        """Drop queued faults, the policy, and return to pass-through."""
        with self._lock:
            self._plan.clear()
            self.policy = None
            self.default = Fault.passthrough()

    @property
    def pending(self) -> int:
        """How many queued faults have not been used yet."""
        with self._lock:
            return len(self._plan)

    @property
    def faults_injected(self) -> int:
        """How many requests (and accepted connections) got a fault other than pass."""
        with self._lock:
            return self.refused_connections + sum(1 for r in self.requests if r.fault.is_fault)

    def requests_matching(self, method: str, path_prefix: str = "") -> list[ProxiedRequest]:
        """The requests seen with this method whose path starts with ``path_prefix``."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.info.method == method and r.info.path.startswith(path_prefix)
            ]

    def _choose(self, info: RequestInfo, *, at_accept: bool) -> Fault:
        with self._lock:
            if at_accept:
                if self._plan and self._plan[0].kind is FaultKind.REFUSE:
                    self.refused_connections += 1
                    return self._plan.popleft()
                return Fault.passthrough()
            if self._plan:
                return self._plan.popleft()
            if self.policy is not None:
                return self.policy(info)
            return self.default

    # -- the loop thread -------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None, "start() the proxy first"
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._spawn, "127.0.0.1", self.port, reuse_address=True, limit=_MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _spawn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._serve(reader, writer)
        except (OSError, _ClosedError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # stop() cuts every connection; the task ends quietly
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            if not writer.transport.is_closing():
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            connection = self._connections
            self._connections += 1
        accept_info = RequestInfo(-1, connection, "", "")
        if self._choose(accept_info, at_accept=True).kind is FaultKind.REFUSE:
            _abort(writer)
            return
        up_reader: asyncio.StreamReader | None = None
        up_writer: asyncio.StreamWriter | None = None
        try:
            while True:
                try:
                    request = await _read_message(reader)
                except _ClosedError:
                    return
                method, _, rest = request.start_line.partition(" ")
                path = rest.rsplit(" ", 1)[0]
                with self._lock:
                    number = self._numbers
                    self._numbers += 1
                info = RequestInfo(number, connection, method, path)
                fault = self._choose(info, at_accept=False)
                record = ProxiedRequest(info, fault)
                with self._lock:
                    self.requests.append(record)
                if fault.kind is FaultKind.ANSWER:
                    writer.write(_page(fault.status, fault.body))
                    await writer.drain()
                    continue
                if not fault.reaches_server:
                    _abort(writer)
                    return
                if up_writer is None:
                    up_reader, up_writer = await asyncio.open_connection(
                        *self.upstream, limit=_MAX_HEAD
                    )
                assert up_reader is not None
                up_writer.write(request.raw)
                await up_writer.drain()
                record.forwarded = True
                response = await _read_message(up_reader, response_to=method)
                record.status = int(response.start_line.split(" ", 2)[1])
                record.response_bytes = len(response.raw)
                if not await self._answer(writer, response.raw, fault):
                    return
                if "close" in response.headers.get("connection", "").lower():
                    return
        finally:
            if up_writer is not None:
                up_writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, raw: bytes, fault: Fault) -> bool:
        """Send a response under a fault; False when the connection is over."""
        if fault.kind is FaultKind.DELAY:
            await asyncio.sleep(fault.seconds)
        if fault.kind in (FaultKind.RESET, FaultKind.TRUNCATE):
            if fault.after:
                writer.write(raw[: fault.after])
                await writer.drain()
            if fault.kind is FaultKind.RESET:
                _abort(writer)
            else:
                writer.close()
            return False
        for start in range(0, len(raw), _COPY_CHUNK):
            writer.write(raw[start : start + _COPY_CHUNK])
        await writer.drain()
        return True


def plan_of(faults: Iterable[Fault]) -> Policy:
    """A policy that cycles through ``faults`` request by request."""
    items = list(faults)

    def policy(info: RequestInfo) -> Fault:
        return items[info.number % len(items)]

    return policy

"""Requests answered from their first bytes, below HTTP parsing and the app: the connection
guard's ``early_answer`` and the login route's use of it (a locked-out address's logins
cost a few string tests, not a request's way through the app)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from submarine.server.api.connections import DISCARD_BYTES, EarlyAnswer, guarded_protocol
from submarine.server.api.logins import FailureLimit
from submarine.server.api.peers import UNKNOWN, OwnUser, Unknown
from submarine.server.api.rest import envelope_body
from submarine.server.api.token import TOKEN_PATH, early_refusal

CANNED = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"


class _App:
    """An ASGI app that answers 200 and remembers the paths it saw."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})


@asynccontextmanager
async def _serving(app: _App, early: EarlyAnswer) -> AsyncIterator[int]:
    protocol = guarded_protocol(10.0, 64, body_timeout=10.0, early_answer=early)
    config = uvicorn.Config(app, http=protocol, lifespan="off", log_config=None)
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol(config=config, server_state=state, app_state={}), "127.0.0.1", 0
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for connection in list(state.connections):
            connection.shutdown()
        await server.wait_closed()


def _refuse_x(data: bytes, client: Any, server: Any) -> bytes | None:
    return CANNED if data.startswith(b"POST /x ") else None


async def _exchange(port: int, *pieces: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)  # to the server's end of the stream
    writer.close()
    return answer


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Any]], None]:
    """Runs a test's coroutine on asyncio's loop or on uvloop's (the server's, when
    installed): the guard sees either kind of transport."""
    if request.param == "asyncio":
        return lambda test: asyncio.run(test())
    uvloop = pytest.importorskip("uvloop")
    return lambda test: uvloop.run(test())


def test_an_early_answer_is_sent_without_the_app_and_the_body_is_dropped(
    run: Callable[[Callable[[], Any]], None],
) -> None:
    app = _App()

    async def test() -> None:
        async with _serving(app, _refuse_x) as port:
            head = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
            answer = await _exchange(port, head, b"b" * 300_000)
            assert answer == CANNED
            # Another path goes to the app.
            other = await _exchange(
                port, b"GET /y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            )
            assert b"\r\napp\r\n" in other

    run(test)
    assert app.paths == ["/y"]


def test_a_body_past_the_bound_after_an_early_answer_closes_the_connection(
    run: Callable[[Callable[[], Any]], None],
) -> None:
    async def test() -> None:
        async with _serving(_App(), _refuse_x) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 30)
            assert answer == CANNED
            # What the kernel buffers on both ends is taken whatever the server does.
            buffers = sum(
                int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
                for name in ("tcp_rmem", "tcp_wmem")
            )
            try:
                for _ in range((DISCARD_BYTES + buffers) // 65536 + 64):
                    writer.write(b"b" * 65536)
                    await asyncio.wait_for(writer.drain(), 30)
            except ConnectionError:
                return  # closed past the bound
            finally:
                writer.close()
            raise AssertionError("the server took more than the bound and the kernel's buffers")

    run(test)


def test_requests_after_one_the_app_answered_are_looked_at_too(
    run: Callable[[Callable[[], Any]], None],
) -> None:
    app = _App()

    async def test() -> None:
        async with _serving(app, _refuse_x) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n")
            first = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 30)
            writer.write(b"POST /x HTTP/1.1\r\nHost: a\r\n\r\n")  # kept alive: the next one
            second = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            assert first.startswith(b"HTTP/1.1 200")
            assert second == CANNED

    run(test)
    assert app.paths == ["/y"]


class _Peers(OwnUser):
    def __init__(self, uid: int | Unknown | None) -> None:
        super().__init__(uid=0)
        self.answer = uid

    def peer_uid_now(
        self, client: tuple[str, int], server: tuple[str, int]
    ) -> int | Unknown | None:
        return self.answer


def _locked(key: str) -> FailureLimit:
    limit = FailureLimit(2, 60.0)
    limit.failed(key)
    limit.failed(key)
    return limit


CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 8080)
LOGIN = f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def test_a_locked_out_users_login_is_refused_from_its_first_bytes_as_the_route_would() -> None:
    refuse = early_refusal(_locked("127.0.0.1 (uid 1000)"), _Peers(1000))
    answer = refuse(LOGIN, CLIENT, SERVER)
    assert answer is not None
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert lines[0] == "HTTP/1.1 429 Too Many Requests"
    assert 1 <= int(fields["retry-after"]) <= 60
    assert int(fields["content-length"]) == len(body)
    message = (
        f"too many failed logins from 127.0.0.1 (uid 1000): try again in {fields['retry-after']} s"
    )
    assert json.loads(body) == envelope_body(429, message=message)
    with_query = LOGIN.replace(TOKEN_PATH.encode(), TOKEN_PATH.encode() + b"?x=1")
    assert refuse(with_query, CLIENT, SERVER) is not None


def test_other_requests_and_other_users_take_the_normal_way() -> None:
    limit = _locked("127.0.0.1 (uid 1000)")
    assert early_refusal(limit, _Peers(1001))(LOGIN, CLIENT, SERVER) is None  # another user
    assert early_refusal(limit, _Peers(UNKNOWN))(LOGIN, CLIENT, SERVER) is None  # cannot tell
    refuse = early_refusal(limit, _Peers(1000))
    assert refuse(LOGIN.replace(b"token", b"tokens"), CLIENT, SERVER) is None
    assert refuse(LOGIN.replace(b"POST", b"GET"), CLIENT, SERVER) is None
    assert refuse(LOGIN, None, SERVER) is None
    # An address that is no loopback one is its own key.
    remote = early_refusal(_locked("10.0.0.7"), _Peers(None))
    assert remote(LOGIN, ("10.0.0.7", 5000), SERVER) is not None
    assert remote(LOGIN, ("10.0.0.8", 5000), SERVER) is None

"""The fault proxy itself: each fault does to a plain HTTP exchange what it promises.

A tiny threaded HTTP/1.1 server on 127.0.0.1 counts the requests that reach it, so every
test can tell "the server saw it" from "the client saw an answer".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support import wait_until

from .faultproxy import Fault, FaultProxy, RequestInfo, plan_of

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]


class _Counter(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Counter

    def _send(self, payload: object, chunked: bool = False) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 7):
                part = body[start : start + 7]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:
        chunked = self.path.endswith("/chunked")
        self._send({"path": self.path, "pad": "x" * 200}, chunked=chunked)

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(size)
        with self.server.lock:
            self.server.posts += 1
            count = self.server.posts
        self._send({"posts": count, "echo": data.decode()})

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def upstream() -> Iterator[_Counter]:
    server = _Counter()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def proxy(upstream: _Counter) -> Iterator[FaultProxy]:
    host, port = upstream.server_address[:2]
    with FaultProxy(str(host), int(port)) as running:
        yield running


@pytest.fixture
def http(proxy: FaultProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=httpx.Timeout(5.0)) as client:
        yield client


def test_passthrough_keeps_one_connection_alive(
    proxy: FaultProxy, http: httpx.Client, upstream: _Counter
) -> None:
    for index in range(3):
        answer = http.post("/x", content=f"body {index}")
        assert answer.json() == {"posts": index + 1, "echo": f"body {index}"}
    assert http.get("/a/chunked").json()["path"] == "/a/chunked"
    assert {r.info.connection for r in proxy.requests} == {0}
    assert [r.status for r in proxy.requests] == [200] * 4
    assert proxy.faults_injected == 0


def test_refuse_resets_at_accept_and_nothing_reaches_the_server(
    proxy: FaultProxy, http: httpx.Client, upstream: _Counter
) -> None:
    proxy.plan(Fault.refuse())
    with pytest.raises(httpx.TransportError):
        http.post("/x", content="lost")
    assert upstream.posts == 0
    assert proxy.refused_connections == 1
    assert http.post("/x", content="ok").json()["posts"] == 1


def test_drop_reads_the_request_and_never_forwards_it(
    proxy: FaultProxy, http: httpx.Client, upstream: _Counter
) -> None:
    proxy.plan(Fault.drop())
    with pytest.raises(httpx.TransportError):
        http.post("/x", content="lost")
    assert upstream.posts == 0
    assert proxy.requests[0].forwarded is False


@pytest.mark.parametrize("after", [0, 10, 100])
def test_reset_mid_response_after_the_server_acted(
    proxy: FaultProxy, http: httpx.Client, upstream: _Counter, after: int
) -> None:
    proxy.plan(Fault.reset(after=after))
    with pytest.raises(httpx.TransportError):
        http.post("/x", content="served")
    assert upstream.posts == 1
    assert proxy.requests[0].forwarded is True


def test_truncate_cuts_the_body(proxy: FaultProxy, http: httpx.Client, upstream: _Counter) -> None:
    assert http.get("/probe").status_code == 200
    cut = proxy.requests[0].response_bytes - 20  # inside the body
    proxy.plan(Fault.truncate(after=cut))
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/probe")
    assert http.get("/probe").status_code == 200


def test_answer_is_the_proxys_own_page(
    proxy: FaultProxy, http: httpx.Client, upstream: _Counter
) -> None:
    proxy.plan(Fault.answer(503))
    answer = http.post("/x", content="never forwarded")
    assert answer.status_code == 503
    assert b"Bad gateway" in answer.content
    assert upstream.posts == 0
    assert http.post("/x", content="next").json()["posts"] == 1


def test_delay_past_the_timeout(proxy: FaultProxy, upstream: _Counter) -> None:
    proxy.plan(Fault.delay(5.0))
    with (
        httpx.Client(base_url=proxy.url, timeout=httpx.Timeout(0.2)) as quick,
        pytest.raises(httpx.ReadTimeout),
    ):
        quick.post("/x", content="slow")
    # The server answered before the proxy began to hold the answer back.
    wait_until(lambda: upstream.posts == 1, what="the delayed post to reach the server")


def test_faults_are_per_request_on_a_kept_alive_connection(
    proxy: FaultProxy, http: httpx.Client
) -> None:
    proxy.plan(Fault.passthrough(), Fault.passthrough(), Fault.drop())
    assert http.get("/1").status_code == 200
    assert http.get("/2").status_code == 200
    with pytest.raises(httpx.TransportError):
        http.get("/3")
    assert http.get("/4").status_code == 200
    assert [r.info.connection for r in proxy.requests] == [0, 0, 0, 1]
    assert proxy.pending == 0


def test_a_policy_chooses_by_connection_or_count(proxy: FaultProxy, upstream: _Counter) -> None:
    def odd_connections_fail(info: RequestInfo) -> Fault:
        return Fault.drop() if info.connection % 2 else Fault.passthrough()

    proxy.policy = odd_connections_fail
    outcomes = []
    for _ in range(4):
        with httpx.Client(base_url=proxy.url) as fresh:
            try:
                outcomes.append(fresh.get("/c").status_code)
            except httpx.TransportError:
                outcomes.append(0)
    assert outcomes == [200, 0, 200, 0]
    proxy.policy = plan_of([Fault.passthrough(), Fault.drop(), Fault.drop()])
    with httpx.Client(base_url=proxy.url) as fresh:
        results = []
        for _ in range(6):
            try:
                results.append(fresh.get("/n").status_code)
            except httpx.TransportError:
                results.append(0)
    statuses = {r.info.number % 3: r.fault for r in proxy.requests[4:]}
    assert results.count(0) == 4
    assert statuses[0] == Fault.passthrough()


def test_closed_listener_refuses_then_reopens_on_the_same_port(
    proxy: FaultProxy, http: httpx.Client
) -> None:
    port = proxy.port
    proxy.close_listener()
    with (
        httpx.Client(base_url=proxy.url, timeout=30) as fresh,
        pytest.raises(httpx.ConnectError),
    ):
        fresh.get("/")
    proxy.open_listener()
    assert proxy.port == port
    with httpx.Client(base_url=proxy.url, timeout=30) as fresh:
        assert fresh.get("/").status_code == 200

"""The answer-size cap and the per-call deadline: their settings, and what each one stops.

The attacks themselves (a 400 MB answer, servers that drip) are in
``tests/reliability/test_client_limits.py``; here, each rule on scripted answers.
"""

from __future__ import annotations

import math
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterator

import httpcore
import httpx
import pytest

from submarine.client import (
    AsyncExperimentClient,
    ExperimentClient,
    InvalidResponseError,
    ResponseTooLargeError,
    ServerError,
    Timeout,
)
from submarine.client._deadline import Budget, capped, longest_wait
from submarine.client._network import CappedBackend, within
from submarine.client._steps import Call
from submarine.client.config import DEFAULT_MAX_ANSWER_BYTES
from tests.client.conftest import HOST, Script, envelope, experiment, ok

EXP_ID = "experiment-1647192232698-0001"
KIB = 1024


def padded_list(size: int) -> bytes:
    """A list envelope of at least ``size`` bytes (one experiment, padded with spaces)."""
    body = envelope([experiment(EXP_ID)])
    return body[:-1] + b" " * max(0, size - len(body)) + body[-1:]


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body handed out in pieces, to either client, each one counted in ``served``."""

    def __init__(self, body: bytes, served: list[int] | None = None, size: int = 4 * KIB):
        self.body = body
        self.served = [] if served is None else served
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), self.size):
            self.served.append(1)
            yield self.body[start : start + self.size]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self:
            yield piece


def streamed(body: bytes, status: int = 200, **headers: str) -> httpx.Response:
    """An answer whose body is read as it comes (not one httpx has read already)."""
    fields = {name.replace("_", "-"): value for name, value in headers.items()}
    return httpx.Response(status, headers=fields, stream=Pieces(body))


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "deadline"),
    [
        ({}, 3 * 60.0 + 5.0),
        ({"timeout": 5}, 20.0),
        ({"timeout": Timeout(connect=2, read=10)}, 32.0),
        ({"timeout": None}, None),
        ({"deadline": None}, None),
        ({"deadline": 7}, 7.0),
        ({"deadline": 0.5, "timeout": None}, 0.5),
        ({"deadline": math.inf}, None),
    ],
)
def test_the_deadline_is_derived_from_the_timeout_unless_given(kwargs, deadline):
    for cls in (ExperimentClient, AsyncExperimentClient):
        assert cls(HOST, **kwargs)._core.deadline == deadline


def test_the_answer_cap_defaults_to_256_mib_and_can_be_lifted():
    assert DEFAULT_MAX_ANSWER_BYTES == 256 * 1024 * 1024
    assert ExperimentClient(HOST)._core.guard.limit == DEFAULT_MAX_ANSWER_BYTES
    assert ExperimentClient(HOST, max_answer_bytes=None)._core.guard.limit is None
    assert AsyncExperimentClient(HOST, max_answer_bytes=10)._core.guard.limit == 10


@pytest.mark.parametrize("value", [0, -1, 1.5, "1000", True])
def test_a_bad_answer_cap_is_refused_naming_the_value_and_what_is_valid(value):
    with pytest.raises(ValueError, match="max_answer_bytes must be a whole number") as caught:
        ExperimentClient(HOST, max_answer_bytes=value)
    assert repr(value) in str(caught.value)
    assert "None for no limit" in str(caught.value)


@pytest.mark.parametrize("value", [0, -2, math.nan, "soon", True])
def test_a_bad_deadline_is_refused_naming_the_value_and_what_is_valid(value):
    with pytest.raises(ValueError, match="deadline must be a number of seconds") as caught:
        AsyncExperimentClient(HOST, deadline=value)
    message = str(caught.value)
    assert repr(value) in message
    assert "'auto'" in message
    assert "None for no deadline" in message


def test_a_long_poll_has_its_wait_on_top_of_the_deadline():
    core = ExperimentClient(HOST, deadline=4)._core
    url = core.stream_url(EXP_ID)
    assert core.budget(Call("GET", url, read=str)).seconds == 4
    assert core.budget(Call("GET", url, read=str, long_poll=30.0)).seconds == 34


def test_an_attempt_waits_no_longer_than_what_is_left():
    timeout = capped(Timeout(connect=5, read=60, write=1, pool=None), 2.0)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (2.0, 2.0, 1, 2.0)
    assert capped(Timeout(read=60), -1.0).read == 0
    assert longest_wait(Timeout(connect=5, read=60)) == 60
    assert longest_wait(Timeout(read=None)) == math.inf
    budget = Budget(30.0)
    left = budget.left()
    assert left is not None
    assert 0 < left <= 30.0
    assert Budget(None).left() is None


# -- the answer cap ------------------------------------------------------------------------


def test_an_answer_up_to_the_cap_is_read(make):
    body = padded_list(64 * KIB)
    client = make(lambda request: streamed(body), max_answer_bytes=len(body))
    assert [e.experiment_id for e in client.list_experiments()] == [EXP_ID]


def test_an_answer_past_the_cap_stops_reading_with_a_clear_error(make):
    body = padded_list(64 * KIB)
    served: list[int] = []
    client = make(
        lambda request: httpx.Response(200, stream=Pieces(body, served)),
        max_answer_bytes=16 * KIB,
    )
    with pytest.raises(ResponseTooLargeError) as caught:
        client.list_experiments()
    error = caught.value
    assert (error.limit, error.method, error.path) == (16 * KIB, "GET", "/api/v1/experiment")
    assert "max_answer_bytes=16384 (16 KiB)" in str(error)
    assert "GET /api/v1/experiment" in str(error)
    assert "pass a larger max_answer_bytes=" in str(error).lower()
    # Reading stopped at the cap: the rest of the answer was never asked for.
    assert len(served) == 16 * KIB // (4 * KIB) + 1


def test_an_answer_that_declares_a_length_past_the_cap_is_refused_before_its_body(make):
    served: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = padded_list(64 * KIB)
        headers = {"Content-Length": str(len(body))}
        return httpx.Response(200, headers=headers, stream=Pieces(body, served))

    client = make(answer, max_answer_bytes=16 * KIB)
    with pytest.raises(ResponseTooLargeError):
        client.get_experiment(EXP_ID)
    assert served == []


def test_an_error_answer_past_the_cap_is_refused_too(make):
    client = make(
        lambda request: httpx.Response(500, content=b"x" * 20 * KIB), max_answer_bytes=KIB
    )
    with pytest.raises(ResponseTooLargeError):
        client.get_experiment(EXP_ID)


def test_the_login_answer_is_capped_too(make):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/token":
            return streamed(b" " * 64 * KIB)
        return ok(experiment(EXP_ID))

    client = make(answer, username="admin", password="pw", max_answer_bytes=8 * KIB)
    with pytest.raises(ResponseTooLargeError) as caught:
        client.get_experiment(EXP_ID)
    assert caught.value.path == "/api/auth/token"


# -- compressed answers --------------------------------------------------------------------


def compressed(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "wbits"),
    [("gzip", 31), ("x-gzip", 31), ("deflate", 15), ("deflate", -15), ("identity", None)],
)
def test_compressed_answers_are_read(make, encoding, wbits):
    body = padded_list(200 * KIB)
    sent = body if wbits is None else compressed(body, wbits)
    script = Script(lambda request: streamed(sent, content_encoding=encoding))
    client = make(script, max_answer_bytes=len(body))
    assert [e.experiment_id for e in client.list_experiments()] == [EXP_ID]
    assert script.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_a_compression_bomb_stops_at_the_cap(make):
    bomb = compressed(b"\0" * (64 << 20), 31)  # 64 MiB of zeros in about 64 kB
    assert len(bomb) < 128 * KIB
    client = make(
        lambda request: streamed(bomb, content_encoding="gzip"), max_answer_bytes=KIB * KIB
    )
    with pytest.raises(ResponseTooLargeError) as caught:
        client.list_experiments()
    assert caught.value.limit == KIB * KIB


def test_an_encoding_the_client_did_not_ask_for_is_refused(make):
    client = make(lambda request: streamed(b"\x8b\x03\x80", content_encoding="br"))
    with pytest.raises(InvalidResponseError, match="Content-Encoding 'br'"):
        client.get_experiment(EXP_ID)


# -- retries within the deadline -------------------------------------------------------------


def test_no_retry_is_made_that_could_not_start_before_the_deadline(make, fake_time):
    script = Script(
        lambda request: httpx.Response(503, headers={"Retry-After": "30"}, content=b"busy")
    )
    client = make(script, deadline=5, max_retries=3)
    with pytest.raises(ServerError):
        client.get_experiment(EXP_ID)
    assert len(script.requests) == 1
    assert fake_time.sleeps == []


# -- the blocking client's waits on its sockets ----------------------------------------------


class Waits(httpcore.NetworkStream, httpcore.NetworkBackend):
    """A connection, and the backend that makes it, noting the timeout of every wait."""

    def __init__(self) -> None:
        self.timeouts: list[tuple[str, float | None]] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.timeouts.append(("connect", timeout))
        return self

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.timeouts.append(("read", timeout))
        return b"x"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.timeouts.append((f"write {len(buffer)}", timeout))

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        self.timeouts.append(("tls", timeout))
        return self


def test_each_wait_of_a_call_is_capped_at_what_is_left_of_its_deadline():
    waits = Waits()
    backend = CappedBackend(waits)
    stream = backend.connect_tcp("example.org", 443, timeout=5)
    assert waits.timeouts == [("connect", 5)]  # outside a call: as httpx asked
    with within(Budget(2.0)):
        stream = backend.connect_tcp("example.org", 443, timeout=5)
        stream = stream.start_tls(ssl.create_default_context(), "example.org", timeout=5)
        assert stream.read(10, timeout=60) == b"x"
        stream.read(10, timeout=None)
        stream.read(10, timeout=0.5)
        stream.write(b"y" * (150 * KIB), timeout=60)
    assert [name for name, _ in waits.timeouts[1:]] == [
        "connect",
        "tls",
        "read",
        "read",
        "read",
        "write 65536",
        "write 65536",
        "write 22528",
    ]
    capped_waits = [
        timeout for name, timeout in waits.timeouts[1:] if name != "read" or timeout != 0.5
    ]
    assert all(timeout is not None and 0 < timeout <= 2.0 for timeout in capped_waits)
    assert ("read", 0.5) in waits.timeouts  # a shorter timeout stays as it is
    with within(Budget(None)):
        stream.read(10, timeout=None)
    assert waits.timeouts[-1] == ("read", None)  # no deadline: nothing capped


@pytest.mark.parametrize(
    ("wait", "error"),
    [
        (lambda stream: stream.read(10, timeout=60), httpcore.ReadTimeout),
        (lambda stream: stream.write(b"y", timeout=60), httpcore.WriteTimeout),
        (lambda stream: stream.start_tls(ssl.create_default_context()), httpcore.ConnectTimeout),
    ],
)
def test_a_wait_past_the_deadline_is_a_timeout_at_once(wait, error):
    waits = Waits()
    stream = CappedBackend(waits).connect_tcp("example.org", 443)
    budget = Budget(5.0)
    budget.end = time.monotonic() - 1  # passed
    with within(budget), pytest.raises(error, match="deadline passed"):
        wait(stream)
    assert waits.timeouts == [("connect", None)]  # nothing waited


def test_the_client_pools_and_its_proxies_pools_have_the_capped_backend(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with ExperimentClient("https://submarine.example", token="t") as client:
        pools = [client._http._transport._pool]
        pools += [t._pool for t in client._http._mounts.values() if t is not None]
        assert len(pools) >= 2  # the client's own, and the proxy's
        assert all(isinstance(pool._network_backend, CappedBackend) for pool in pools)
        assert any(isinstance(pool, httpcore.HTTPProxy) for pool in pools)


def test_a_transport_given_to_the_client_has_its_waits_capped_too():
    transport = httpx.HTTPTransport()
    backend = transport._pool._network_backend
    with ExperimentClient(HOST, transport=transport):
        capped_backend = transport._pool._network_backend
        assert isinstance(capped_backend, CappedBackend)
        assert capped_backend._backend is backend
    with ExperimentClient(HOST, transport=transport):  # once only
        assert transport._pool._network_backend is capped_backend

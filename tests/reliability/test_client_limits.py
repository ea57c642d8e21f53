"""A hostile or broken server cannot make a client hold unbounded memory or hang.

Issue 20, "client limits":

* a 400 MB answer took 801 MB of the client's memory: answers are now read a piece at a
  time and reading stops past ``max_answer_bytes`` (256 MiB by default) with
  ``ResponseTooLargeError``; the client never holds more than the cap and a piece, and
  a gzip answer cannot inflate past it either;
* a server that drips one byte a second hung a call made with ``timeout=5`` (each read
  got its byte in time): every call now has an overall ``deadline`` (by default three
  read timeouts plus the connect timeout) that ends it with ``DeadlineExceededError``,
  retries included, whether the server drips the body, the headers, or the headers on a
  pooled connection that answered well before, while other calls of the same client are
  under way in other threads or not.

Each server is a tiny socket server in the test (a healthy server sends neither). No test
asserts how long anything took: the deadline tests assert the error and that the call
returned within a generous outer bound; the times are reported as figures.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from submarine.client import (
    AsyncExperimentClient,
    DeadlineExceededError,
    ExperimentClient,
    ResponseTooLargeError,
)
from tests.stub_server import Request, StubServer, envelope_answer, head

from .conftest import Figures

pytestmark = pytest.mark.reliability

MB = 1 << 20
ANSWER = 400 * MB
PIECE = b'"' + b"x" * (MB - 4) + b'",'
"""One item of the huge answer, made once: sending it again allocates nothing."""
OUTER_BOUND = 60.0
"""How long a test waits for a call that should end at a deadline of a few seconds."""


def run_client(kind: str, url: str, calls: Callable[[Any], Any], **options: Any) -> None:
    """Make a client of ``kind`` and run ``calls`` with it (awaiting it for the asyncio one)."""
    if kind == "sync":
        with ExperimentClient(url, **options) as client:
            calls(client)
        return

    async def main() -> None:
        async with AsyncExperimentClient(url, **options) as client:
            await calls(client)

    asyncio.run(main())


def returns_within(bound: float, work: Callable[[], None]) -> tuple[BaseException | None, float]:
    """Run ``work`` in a thread; fail unless it returns within ``bound`` seconds. Its
    exception (or None) and how long it ran."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        try:
            work()
        except BaseException as exc:
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"the call was still going after {bound} s"
    return outcome.get("error"), outcome["elapsed"]


# -- answer size -------------------------------------------------------------------------------


class Huge:
    """Answers a list request with an endless list of 1 MB strings, ``ANSWER`` bytes in all
    (made as it is sent, never held), with no length: only reading it tells its size."""

    def __init__(self, encoding: str | None = None, body: bytes | None = None) -> None:
        self.encoding = encoding
        self.body = body
        self.sent = 0

    def __call__(self, request: Request, sock: socket.socket, stopped: threading.Event) -> bool:
        if request.path.endswith("/ping"):
            envelope_answer("Pong", sock)
            return True
        if self.body is not None:  # a prepared (compressed) body
            sock.sendall(head(200, content_type="application/json", content_encoding="gzip"))
            sock.sendall(self.body)
            self.sent += len(self.body)
            return False
        sock.sendall(head(200, content_type="application/json"))
        sock.sendall(b'{"status":"OK","code":200,"success":true,"result":[')
        while self.sent < ANSWER and not stopped.is_set():
            sock.sendall(PIECE)
            self.sent += len(PIECE)
        return False


def peak_while(kind: str, url: str, **options: Any) -> tuple[BaseException | None, int]:
    """The error of listing experiments at ``url``, and the most memory the process
    held meanwhile (traced; the imports and the connection are made before)."""
    error: BaseException | None = None

    def calls(client: Any) -> Any:
        if kind == "sync":
            client.ping()
            tracemalloc.start()
            return client.list_experiments()

        async def run() -> None:
            await client.ping()
            tracemalloc.start()
            await client.list_experiments()

        return run()

    try:
        run_client(kind, url, calls, **options)
    except BaseException as exc:
        error = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak


@pytest.mark.bounded
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_400_mb_answer_stops_at_the_default_cap_in_bounded_memory(
    kind: str, figures: Figures
) -> None:
    huge = Huge()
    with StubServer(huge) as stub:
        error, peak = peak_while(kind, stub.url, timeout=30)
    assert isinstance(error, ResponseTooLargeError), error
    assert error.limit == 256 * MB
    assert "max_answer_bytes=268435456 (256 MiB)" in str(error)
    assert "GET /api/v1/experiment " in str(error)
    assert peak < 256 * MB + 16 * MB, f"the client held {peak / MB:.0f} MB"
    assert huge.sent < ANSWER  # the client stopped reading, the server stopped sending
    figures.set(f"400 MB answer, default cap: client memory peak ({kind}, MB)", round(peak / MB))


@pytest.mark.bounded
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_smaller_cap_holds_as_little(kind: str, figures: Figures) -> None:
    huge = Huge()
    with StubServer(huge) as stub:
        error, peak = peak_while(kind, stub.url, timeout=30, max_answer_bytes=32 * MB)
    assert isinstance(error, ResponseTooLargeError), error
    assert error.limit == 32 * MB
    assert peak < 32 * MB + 8 * MB, f"the client held {peak / MB:.0f} MB"
    figures.set(f"400 MB answer, 32 MiB cap: client memory peak ({kind}, MB)", round(peak / MB))


@pytest.mark.bounded
def test_a_gzip_answer_cannot_inflate_past_the_cap(figures: Figures) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MB)
    bomb = b"".join(packer.compress(zeros) for _ in range(ANSWER // MB)) + packer.flush()
    del zeros
    assert len(bomb) < MB  # 400 MB of zeros, in well under 1 MB
    with StubServer(Huge(body=bomb)) as stub:
        error, peak = peak_while("sync", stub.url, timeout=30, max_answer_bytes=32 * MB)
    assert isinstance(error, ResponseTooLargeError), error
    assert peak < 32 * MB + 8 * MB, f"the client held {peak / MB:.0f} MB"
    figures.set(
        f"gzip bomb (400 MB in {len(bomb) / MB:.1f} MB), 32 MiB cap: client memory peak (MB)",
        round(peak / MB),
    )


# -- dripping servers ---------------------------------------------------------------------------


class Drip:
    """Sends its answer one byte every ``interval`` seconds: the body (after whole
    headers), or the headers themselves; ``answered`` requests are answered at once
    first (a pooled connection that served well); with ``hang_up_after``, the connection
    is closed after that many bytes (the client retries)."""

    def __init__(
        self,
        part: str,
        *,
        interval: float = 1.0,
        answered: int = 0,
        hang_up_after: int | None = None,
    ) -> None:
        self.part = part
        self.interval = interval
        self.answered = answered
        self.hang_up_after = hang_up_after
        self.dripped = 0
        self.requests = 0

    def __call__(self, request: Request, sock: socket.socket, stopped: threading.Event) -> bool:
        self.requests += 1
        if request.index < self.answered:
            envelope_answer("Pong", sock)
            return True
        headers = head(200, content_type="application/json", content_length=100_000)
        if self.part == "body":
            sock.sendall(headers)
            data = b" " * 100_000
        else:
            data = headers
        for count, byte in enumerate(data):
            if stopped.wait(self.interval) or count == self.hang_up_after:
                break
            sock.sendall(bytes([byte]))
            self.dripped += 1
        return False


DRIPS = {
    "body": lambda: Drip("body"),
    "headers": lambda: Drip("headers"),
    "headers on a pooled connection": lambda: Drip("headers", answered=1),
}


@pytest.mark.bounded
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("what", list(DRIPS))
def test_a_dripping_server_cannot_hold_a_call_past_its_deadline(
    kind: str, what: str, figures: Figures
) -> None:
    drip = DRIPS[what]()

    def calls(client: Any) -> Any:
        if kind == "sync":
            if drip.answered:
                client.ping()
            return client.get_experiment("experiment-1647192232698-0001")

        async def run() -> None:
            if drip.answered:
                await client.ping()
            await client.get_experiment("experiment-1647192232698-0001")

        return run()

    with StubServer(drip) as stub:
        error, elapsed = returns_within(
            OUTER_BOUND,
            lambda: run_client(kind, stub.url, calls, timeout=5, deadline=2, max_retries=0),
        )
    assert isinstance(error, DeadlineExceededError), error
    assert error.deadline == 2
    assert "deadline of 2 s" in str(error)
    assert drip.dripped >= 1  # it was dripping, not silent: no read timeout could end it
    figures.set(
        f"drip ({what}), timeout=5, deadline=2: call ended after ({kind}, s)", round(elapsed, 2)
    )


class PooledDrip:
    """Answers the first ``calls`` requests (pings) at once, but only when all of them
    came, so that each one has a connection of its own, kept open: the client pools
    them all. Each later request waits until ``calls`` of them came (so that they are all
    under way at once), then its headers drip one byte a second. Notes the client's end
    of each connection, to tell which later requests came on a pooled one."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.warm = threading.Barrier(calls)
        self.together = threading.Barrier(calls)
        self.pooled: set[tuple[str, int]] = set()
        """The client's ends of the connections that answered well."""
        self.dripping: list[tuple[str, int]] = []
        """The client's end of the connection of each request answered by a drip."""
        self.dripped = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request, sock: socket.socket, stopped: threading.Event) -> bool:
        peer = sock.getpeername()
        if request.index < self.calls:
            self.warm.wait(OUTER_BOUND)
            with self._lock:
                self.pooled.add(peer)
            envelope_answer("Pong", sock)
            return True
        with self._lock:
            self.dripping.append(peer)
        self.together.wait(OUTER_BOUND)
        for byte in head(200, content_type="application/json", content_length=100_000):
            if stopped.wait(1.0):
                break
            sock.sendall(bytes([byte]))
            with self._lock:
                self.dripped += 1
        return False


@pytest.mark.bounded
def test_concurrent_calls_dripped_on_pooled_connections_end_at_their_deadline(
    figures: Figures,
) -> None:
    calls = 4
    drip = PooledDrip(calls)

    def in_threads(client: ExperimentClient, work: Callable[[ExperimentClient], Any]) -> list[Any]:
        """Run ``work`` from ``calls`` threads at once; what each returned or raised."""
        outcomes: list[Any] = [None] * calls

        def one(index: int) -> None:
            try:
                outcomes[index] = work(client)
            except BaseException as exc:
                outcomes[index] = exc

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(OUTER_BOUND)
        return outcomes

    pinged: list[Any] = []
    errors: list[Any] = []
    took: list[float] = []

    def run() -> None:
        with ExperimentClient(stub.url, timeout=5, deadline=2, max_retries=0) as client:
            pinged.extend(in_threads(client, lambda c: c.ping()))
            started = time.monotonic()
            errors.extend(
                in_threads(client, lambda c: c.get_experiment("experiment-1647192232698-0001"))
            )
            took.append(time.monotonic() - started)

    with StubServer(drip) as stub:
        error, _ = returns_within(OUTER_BOUND, run)
    assert error is None, error
    assert pinged == [True] * calls  # a connection each, answered and kept in the pool
    assert len(drip.pooled) == calls
    for exc in errors:
        assert isinstance(exc, DeadlineExceededError), exc
        assert exc.deadline == 2
    on_pooled = sum(peer in drip.pooled for peer in drip.dripping)
    assert on_pooled >= 1  # pooled connections, while the other calls were under way
    assert drip.dripped >= 1  # it was dripping, not silent: no read timeout could end it
    figures.set(
        f"drip of the headers on pooled connections, {calls} calls at once from threads "
        "(timeout=5, deadline=2): all ended after (sync, s)",
        round(took[0], 2),
    )
    figures.set(
        f"drip of the headers on pooled connections: calls on a pooled connection (of {calls})",
        on_pooled,
    )


@pytest.mark.bounded
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_retries_are_within_the_deadline(kind: str) -> None:
    drip = Drip("body", interval=0.3, hang_up_after=2)

    def calls(client: Any) -> Any:
        return client.list_experiments()

    with StubServer(drip) as stub:
        error, _ = returns_within(
            OUTER_BOUND,
            lambda: run_client(
                kind, stub.url, calls, timeout=5, deadline=2, max_retries=100, retry_backoff=0.01
            ),
        )
    assert isinstance(error, DeadlineExceededError), error
    assert drip.requests >= 2  # the dropped answers were retried, until the deadline


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_default_deadline_ends_a_drip_of_a_call_made_with_timeout_5(
    kind: str, figures: Figures
) -> None:
    drip = Drip("body")

    def calls(client: Any) -> Any:
        return client.get_experiment("experiment-1647192232698-0001")

    with StubServer(drip) as stub:
        error, elapsed = returns_within(
            OUTER_BOUND, lambda: run_client(kind, stub.url, calls, timeout=5, max_retries=0)
        )
    assert isinstance(error, DeadlineExceededError), error
    assert error.deadline == 20  # 3 read timeouts + the connect timeout
    figures.set(
        f"drip, timeout=5, default deadline: call ended after ({kind}, s)", round(elapsed, 1)
    )

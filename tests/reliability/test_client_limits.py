"""A hostile or broken server cannot make a client hold unbounded memory.

Issue 20, "client limits":

* a 400 MB answer took 801 MB of the client's memory: answers are now read a piece at a
  time and reading stops past ``max_answer_bytes`` (256 MiB by default) with
  ``ResponseTooLargeError``; the client never holds more than the cap and a piece, and
  a gzip answer cannot inflate past it either.

Each server is a tiny socket server in the test (a healthy server sends no such answer).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from submarine.client import (
    AsyncExperimentClient,
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

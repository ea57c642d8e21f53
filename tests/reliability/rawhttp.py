"""HTTP by hand, for attacks a client library will not make: send a request's headers and
hold its body back, send a part of it, or go away in the middle.

>>> sock = connect(server)  # doctest: +SKIP
>>> send_head(sock, "POST", "/api/metric/add", length=1_000_000)  # doctest: +SKIP
>>> read_answer(sock).status  # the answer came before any byte of the body  # doctest: +SKIP
401
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import resource
import socket
import struct
import termios
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import RunningServer

__all__ = [
    "Answer",
    "address",
    "closed_by_server",
    "connect",
    "file_limit",
    "read_answer",
    "send_head",
    "unread",
]


def address(server: RunningServer) -> tuple[str, int]:
    """The host and port a server listens on."""
    url = httpx.URL(server.url)
    assert url.host
    assert url.port
    return url.host, url.port


def connect(server: RunningServer, source: str | None = None, timeout: float = 30) -> socket.socket:
    """A TCP connection to the server, from the loopback address ``source`` if given
    (``127.0.0.2`` is another client address on Linux)."""
    return socket.create_connection(
        address(server), timeout=timeout, source_address=(source, 0) if source else None
    )


def send_head(
    sock: socket.socket,
    method: str,
    path: str,
    *,
    length: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Send a request line and headers (``Content-Length: length`` when given), no body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    fields = {"Content-Type": "application/json", **(headers or {})}
    if length is not None:
        fields["Content-Length"] = str(length)
    lines += [f"{name}: {value}" for name, value in fields.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


@dataclass
class Answer:
    """A response read off a socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def read_answer(sock: socket.socket, timeout: float = 30) -> Answer:
    """Read one response with a Content-Length (every answer of the server has one but
    streamed lists); fail when none comes within ``timeout`` seconds."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the connection closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = value.strip()
    size = int(headers.get("content-length", "0"))
    while len(body) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(status_line.split(" ")[1]), headers, body[:size])


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed (or reset) the connection; reads and drops what came."""
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


@contextlib.contextmanager
def file_limit(count: int) -> Iterator[None]:
    """Room for ``count`` more sockets in this process's open-file limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _hex_address(host: str, port: int) -> str:
    """An IPv4 address as ``/proc/net/tcp`` writes it (little-endian hex, then the port)."""
    (number,) = struct.unpack("<I", socket.inet_aton(host))
    return f"{number:08X}:{port:04X}"


def unread(sock: socket.socket) -> int:
    """Bytes sent on ``sock`` that the server process has not read yet: what this side
    has not had acknowledged, plus what waits in the server's receive queue (Linux,
    IPv4 loopback; the server's socket is the one with the two addresses swapped)."""
    unsent = struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0" * 4))[0]
    client, server = sock.getsockname(), sock.getpeername()
    local, remote = _hex_address(*server), _hex_address(*client)
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(unsent) + int(fields[4].partition(":")[2], 16)
    raise AssertionError(f"no server socket for {client} in /proc/net/tcp")

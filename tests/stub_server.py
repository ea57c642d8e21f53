"""A tiny HTTP server on 127.0.0.1 whose answers a test writes byte by byte.

For what a healthy server never sends: answers that drip, answers of hundreds of MB made
as they are sent, names with terminal escape sequences in them. Each connection gets its
own thread; each request on it (head and ``Content-Length`` body read) is handed to the
test's ``answer`` function with the socket, which writes what it likes and says whether
the connection stays open for another request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Request", "StubServer", "envelope_answer", "head"]


@dataclass(frozen=True)
class Request:
    """A request as the stub read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    index: int
    """How many requests came before this one, over all connections."""

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.split("?", 1)[0]


Answer = Callable[[Request, socket.socket, threading.Event], bool]
"""Writes the answer to a request; True to keep the connection open for the next one.
The event is set when the server closes (drips end early then)."""


def head(status: int = 200, reason: str = "OK", **headers: str | int) -> bytes:
    """A status line and headers (``content_type`` is sent as ``Content-Type``), then the
    blank line."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name.replace('_', '-').title()}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def envelope_answer(result: Any, sock: socket.socket, status: int = 200) -> None:
    """Send a Submarine envelope around ``result`` (a message too when ``status`` >= 400)."""
    ok = status < 400
    body = json.dumps(
        {
            "status": "OK" if ok else "ERROR",
            "code": status,
            "success": ok,
            "message": None if ok else result,
            "result": result if ok else None,
            "attributes": {},
        }
    ).encode()
    reason = "OK" if ok else "Error"
    sock.sendall(
        head(status, reason, content_type="application/json", content_length=len(body)) + body
    )


class StubServer:
    """Serves ``answer`` on a free port of 127.0.0.1 until :meth:`close`.

    >>> with StubServer(answer) as stub:  # doctest: +SKIP
    ...     ExperimentClient(stub.url).ping()
    """

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def __enter__(self) -> StubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._open.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _requests(self, conn: socket.socket) -> Iterator[Request]:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            raw, buffer = buffer.split(b"\r\n\r\n", 1)
            line, *rest = raw.decode("latin-1").split("\r\n")
            headers = {}
            for field in rest:
                name, _, value = field.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(buffer) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
            method, target, _version = line.split(" ", 2)
            with self._lock:
                request = Request(method, target, headers, body, len(self.requests))
                self.requests.append(request)
            yield request

    def _serve(self, conn: socket.socket) -> None:
        try:
            for request in self._requests(conn):
                if not self._answer(request, conn, self.stopped):
                    break
        except OSError:
            pass  # the client went away: what several tests are about
        except BaseException as exc:  # shown by the test that reads .errors
            self.errors.append(exc)
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def close(self) -> None:
        """Stop accepting, and end every connection (drips stop at once)."""
        self.stopped.set()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._listener.close()

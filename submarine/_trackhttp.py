"""Batches of records to the local server over HTTP (``POST /api/metric/add`` and
``/api/param/add``), in the bodies of the tracking contract
(:mod:`submarine.models.trackwire`).

* a server that cannot be reached, a timeout, or an answer of 408, 429, 502, 503 or 504
  is tried again later (:class:`~submarine._tracksend.TransientError`); other server
  errors are tried twice more, then the batch is given up;
* a batch the server refuses (a 4xx: a bad record, the experiment deleted, its quota
  full) is given up at once.

A request has :data:`REQUEST_SECONDS` in all, however slowly a server answers.

Standard library only: a training process imports it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from typing import Any, Final
from urllib.parse import urlsplit

from submarine._tracksend import Outcome, TrackingError, TransientError
from submarine.models.trackwire import URI_ENV, encode_metrics, encode_params

__all__ = ["MAX_BODY", "REQUEST_SECONDS", "HttpTransport"]

MAX_BODY: Final = 900_000
"""The largest request body sent (the local server accepts 1 MiB by default)."""
REQUEST_SECONDS: Final = 30.0
"""The longest one request may take, however slowly the server answers."""
_TIMEOUT: Final = 10.0
"""The longest one socket operation waits."""
_RETRIED: Final = frozenset({408, 429, 502, 503, 504})
"""Answers that say: try again later."""
_SERVER_ERRORS_TRIED: Final = 3
"""How many times a batch is sent that the server fails with another 5xx."""


class _Watchdog:
    """Cuts a request that outlasts its deadline (a server that drips its answer would
    keep a socket operation's timeout from ever firing). One thread, asleep when no
    request is in flight."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._connection: http.client.HTTPConnection | None = None
        self._deadline = 0.0
        self._thread = threading.Thread(target=self._run, name="submarine-tracking-watch")
        self._thread.daemon = True
        self._thread.start()

    def arm(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        """Watch ``connection`` for ``seconds``."""
        with self._state:
            self._connection, self._deadline = connection, time.monotonic() + seconds
            self._state.notify()

    def disarm(self) -> None:
        """The request is over."""
        with self._state:
            self._connection = None

    def _run(self) -> None:
        with self._state:
            while True:
                if self._connection is None:
                    self._state.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._state.wait(left)
                    continue
                sock = self._connection.sock
                self._connection = None
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


class HttpTransport:
    """Batches to the local server at ``uri`` with the replica's credential ``token``.

    A sender's transport (``kept``) keeps its connection open between batches, and a
    watchdog thread cuts a request past :data:`REQUEST_SECONDS`; one that is not (a
    :class:`~submarine.tracking.SubmarineClient`'s, called now and then, perhaps made
    anew for each call as 0.8.0's SDK does) opens a connection a request and starts no
    thread: socket timeouts bound it.

    Raises:
        TrackingError: ``uri`` is not an http(s) URL.
    """

    def __init__(self, uri: str, token: str | None, *, kept: bool = True) -> None:
        self._kept = kept
        self._url = urlsplit(uri.rstrip("/"))
        if self._url.scheme not in ("http", "https") or not self._url.hostname:
            raise TrackingError(f"{URI_ENV} must be an http(s) URL of a server, got {uri!r}")
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._server_errors = 0
        self._connection: http.client.HTTPConnection | None = None
        self._watchdog: _Watchdog | None = None
        self._lock = threading.Lock()  # one request at a time on the kept connection

    @property
    def where(self) -> str:
        """The server, for messages."""
        return f"the server at {self._url.geturl()}"

    def send(self, kind: str, experiment_id: str, worker: str, batch: list[Any]) -> Outcome:
        """Post the front of ``batch`` (as much as fits in :data:`MAX_BODY`)."""
        encode = encode_params if kind == "param" else encode_metrics
        count = len(batch)
        body = encode(experiment_id, worker, batch)
        while len(body) > MAX_BODY and count > 1:  # long keys: fewer a request
            count //= 2
            body = encode(experiment_id, worker, batch[:count])
        with self._lock:
            refusal = self._post(kind, body, count)
        return Outcome(count, count if refusal else 0, refusal)

    def _post(self, kind: str, body: bytes, count: int) -> str | None:
        """Send one batch: None when it was taken, the reason when it was refused (given
        up); :class:`TransientError` when it may be taken later."""
        path = f"{self._url.path}/api/{kind}/add"
        url = f"{self._url.scheme}://{self._url.netloc}{path}"
        try:
            status, answer = self._request(path, body)
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(
                f"cannot send {count} {kind}s to {url}: {exc or type(exc).__name__} "
                "(is the Submarine server that started this replica still running?)"
            ) from exc
        if status < 300:
            self._server_errors = 0
            return None
        try:
            message = json.loads(answer).get("message")
        except (ValueError, AttributeError):
            message = answer[:200].decode("utf-8", "replace")
        reason = f"the server refused {count} {kind}s ({status}): {message}"
        if status in _RETRIED:
            raise TransientError(reason)
        if status >= 500:
            self._server_errors += 1
            if self._server_errors < _SERVER_ERRORS_TRIED:
                raise TransientError(reason)
        self._server_errors = 0
        return reason

    def _request(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST over a kept-alive connection; a kept connection the server has closed in
        the meantime is replaced once. The whole exchange has :data:`REQUEST_SECONDS`."""
        if self._watchdog is None and self._kept:
            self._watchdog = _Watchdog()
        while True:
            connection, kept = self._connection, self._connection is not None
            if connection is None:
                kind = (
                    http.client.HTTPSConnection
                    if self._url.scheme == "https"
                    else http.client.HTTPConnection
                )
                connection = kind(self._url.hostname or "", self._url.port, timeout=_TIMEOUT)
            self._connection = None
            if self._watchdog is not None:
                self._watchdog.arm(connection, REQUEST_SECONDS)
            try:
                connection.request("POST", path, body=body, headers=self._headers)
                response = connection.getresponse()
                answer = response.read()
            except (ConnectionError, http.client.RemoteDisconnected):
                connection.close()
                if kept:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            finally:
                if self._watchdog is not None:
                    self._watchdog.disarm()
            if self._kept and not response.will_close:
                self._connection = connection
            else:
                connection.close()
            return response.status, answer

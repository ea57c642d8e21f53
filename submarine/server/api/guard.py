"""Who may reach the local server from a browser: Host, Origin and body type checks.

A web page the user visits can send requests to ``http://127.0.0.1:8080`` without reading
the answers: a ``<form enctype="text/plain">`` or a ``fetch(..., {mode: "no-cors"})`` needs
no CORS preflight. A page on a name the attacker re-points at 127.0.0.1 (DNS rebinding)
can even read them. :class:`RequestGuard` stops both, before any route or token check:

* **Host** must name this server: a loopback name or address (``localhost``,
  ``127.0.0.1``, ``[::1]``, any port: a port forward keeps working), the address it is
  bound to or the one the connection reached, or a name of ``allow_hosts``. Anything else
  is a 421: a rebinding page's requests carry its own name.
* **Origin** / **Sec-Fetch-Site**: a request a browser marks as coming from another site
  (an ``Origin`` that is not this server's own, ``null`` included; ``Sec-Fetch-Site``
  ``cross-site`` or ``same-site``) is a 403, unless its origin is in ``allow_origins``.
  Same-origin requests (a page this server serves) and requests without these headers
  (``curl``, Python clients: they send none) pass.
* **Body type**: a request that changes state and carries a body must say
  ``application/json`` or ``application/yaml`` (415 otherwise): the types a page can
  send without a preflight (``text/plain``, forms) are refused. A body-less request
  (``DELETE``) is judged by the headers above alone. Two exceptions, each for the paths
  the app names: a ``PUT`` of raw bytes to ``raw_put_paths`` (a page cannot send a ``PUT``
  to another site without a CORS preflight, which this server never grants), and a form
  that a page of this server's own origin (``Origin`` or ``Sec-Fetch-Site`` says so) posts
  under ``form_prefixes`` (TensorBoard's page posts forms).

Every refusal is in Submarine's envelope and says how to allow the caller if it is meant.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from submarine.server.api.logtext import log_text
from submarine.server.api.rest import envelope, is_json_or_yaml

__all__ = ["LOGGED_PER_MINUTE", "READ_METHODS", "RequestGuard", "host_name"]

logger = logging.getLogger(__name__)

LOGGED_PER_MINUTE: Final = 20
"""Refusals logged one by one each minute; the rest are counted."""
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing; every other one is a write."""
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})
_PASSING_FETCH_SITES: Final = frozenset({"same-origin", "none"})


def host_name(host: str) -> str:
    """The name or address of a Host header value, port dropped, brackets kept, lower case.

    >>> host_name("LocalHost:8080"), host_name("[::1]:9"), host_name("10.0.0.1")
    ('localhost', '[::1]', '10.0.0.1')
    """
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_loopback(name: str) -> bool:
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


class RequestGuard:
    """ASGI middleware: refuse foreign Host headers (421), cross-site requests (403) and
    writes whose body is not JSON or YAML (415), in Submarine's envelope.

    Args:
        app: the application behind the guard.
        bound_host: the address the server binds (``0.0.0.0`` and ``::`` add nothing).
        allow_origins: origins (``scheme://host[:port]``, lower case) whose pages may call;
            ``*`` allows any.
        allow_hosts: more names accepted in the Host header (lower case); ``*`` allows any.
        raw_put_paths: paths whose ``PUT`` may carry a body of any type.
        form_prefixes: path prefixes where a same-origin page may post a body of any type.
    """

    def __init__(
        self,
        app: ASGIApp,
        bound_host: str,
        allow_origins: Iterable[str] = (),
        allow_hosts: Iterable[str] = (),
        raw_put_paths: Iterable[str] = (),
        form_prefixes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self._raw_puts = frozenset(raw_put_paths)
        self._form_prefixes = tuple(form_prefixes)
        self._origins = frozenset(o.lower().rstrip("/") for o in allow_origins)
        hosts = {host_name(h) if h != "*" else h for h in allow_hosts}
        bound = _bracketed(bound_host.strip().lower())
        if bound not in ("0.0.0.0", "[::]", ""):
            hosts.add(bound)
        self._hosts = frozenset(hosts)
        self._window_start = -60.0
        self._logged = 0
        self._unlogged = 0

    def _host_accepted(self, name: str, scope: Scope) -> bool:
        if "*" in self._hosts or name in self._hosts or _is_loopback(name):
            return True
        server = scope.get("server")
        return server is not None and name == _bracketed(str(server[0]).lower())

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers", []):
            headers.setdefault(key, value)  # the first of a repeated header counts
        host = headers.get(b"host", b"").decode("latin-1")
        if host and not self._host_accepted(host_name(host), scope):
            return 421, (
                f"the Host header {host!r} does not name this server: use its address "
                "(like 127.0.0.1 or localhost), or start it with --allow-host "
                f"{host_name(host)} if that name is meant to reach it"
            )
        origin = headers.get(b"origin", b"").decode("latin-1").strip().lower().rstrip("/")
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
        allowed = origin and ("*" in self._origins or origin in self._origins)
        if not allowed:
            scheme = str(scope.get("scheme", "http"))
            own = f"{scheme}://{host.strip().lower()}" if host else None
            if origin and origin != own:
                return 403, (
                    f"requests from the web origin {origin!r} are refused: only this "
                    "server's own pages may call it from a browser; start it with "
                    f"--allow-origin {origin} if that site is meant to"
                )
            if site and site not in _PASSING_FETCH_SITES:
                return 403, (
                    f"a {site} request from a web page is refused (Sec-Fetch-Site: {site}): "
                    "only this server's own pages may call it from a browser; start it "
                    "with --allow-origin ORIGIN to allow a site"
                )
        if self._body_type_free(scope, origin, site, host):
            return None
        if scope.get("method", "GET") not in READ_METHODS and _has_body(headers):
            raw = headers.get(b"content-type", b"").decode("latin-1")
            media = raw.split(";")[0].strip().lower()
            if not is_json_or_yaml(media):
                return 415, (
                    f"Content-Type {media!r} is not supported: send application/json or "
                    "application/yaml (application/x-yaml and text/yaml work too)"
                )
        return None

    def _body_type_free(self, scope: Scope, origin: str, site: str, host: str) -> bool:
        """Whether the request may carry a body of any type (see the module's docstring);
        its Host and Origin have passed already."""
        method, path = scope.get("method", "GET"), str(scope.get("path", ""))
        if method == "PUT" and path in self._raw_puts:
            return True
        if method != "POST" or not path.startswith(self._form_prefixes):
            return False
        own = f"{scope.get('scheme', 'http')}://{host.strip().lower()}" if host else None
        return site == "same-origin" or (bool(origin) and origin == own)

    def _log_refusal(self, scope: Scope, message: str) -> None:
        """Log a refusal; past :data:`LOGGED_PER_MINUTE` a minute, only how many there were
        (a page looping on requests must not fill the disk with the log)."""
        now = time.monotonic()
        if now - self._window_start >= 60.0:
            if self._unlogged:
                logger.warning("%d more requests refused in the last minute", self._unlogged)
            self._window_start, self._logged, self._unlogged = now, 0, 0
        if self._logged >= LOGGED_PER_MINUTE:
            self._unlogged += 1
            return
        self._logged += 1
        client = scope.get("client")
        logger.warning(
            "refused %s %s from %s: %s",
            scope.get("method"),
            log_text(scope.get("path", "")),
            client[0] if client else "?",
            log_text(message, 400),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the refusal, or pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        code, message = problem
        self._log_refusal(scope, message)
        # The body (if any) is not read: close the connection rather than parse it as
        # the next request.
        response = envelope(code, message=message, headers={"Connection": "close"})
        await response(scope, receive, send)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    if b"transfer-encoding" in headers:
        return True
    length = headers.get(b"content-length", b"0").strip()
    return not (length.isdigit() and int(length) == 0)

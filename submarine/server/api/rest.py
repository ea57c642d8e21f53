"""The local server's HTTP plumbing: Submarine's envelope, error answers, bodies, auth.

Nothing here knows experiments. Every answer is Submarine's envelope, errors included::

    {"status": "OK", "code": 200, "success": true, "message": null, "result": ..., "attributes": {}}

``success`` is true on success and null on errors, as on Submarine 0.8.0. Handlers raise
:class:`ApiError` for an error answer; :class:`ApiEndpoint` turns it, a storage failure
(507) or anything unexpected (a logged 500) into its envelope.

Request bodies are refused (413) past a limit, declared or sent. A refused body that is
still coming is first read and dropped, up to a bound in bytes and time
(:func:`read_body`), so a client that sends it whole reads the 413 instead of a reset
connection. A client that goes away in the middle of its body costs one log line (a
traceback each used to fill the log at 380 kB/s), and bodies of more than
:data:`PARSE_INLINE_BYTES` are parsed in a worker thread: two 1 MB YAML bodies used to
hold the event loop, and every other request, for seconds.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, Final

from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from submarine.models import SpecFileError, parse_document
from submarine.server.api.logtext import LineBudget, log_text

__all__ = [
    "BAD_TOKEN",
    "DRAIN_SECONDS",
    "PARSE_INLINE_BYTES",
    "YAML_MAX_VALUES",
    "ApiEndpoint",
    "ApiError",
    "TokenGuard",
    "dump_bytes",
    "dumps",
    "envelope",
    "envelope_body",
    "http_error",
    "is_json_or_yaml",
    "number_param",
    "read_body",
    "read_document",
    "server_error",
]

logger = logging.getLogger(__name__)

BAD_TOKEN: Final = "The token is not valid."
"""Message of a request without a valid bearer token."""
JSON_TYPES: Final = frozenset({"application/json", "text/json"})
"""Content types read as JSON (also any ``application/*+json`` type). ``text/plain`` and
none at all are refused: a web page can send those without a CORS preflight."""
YAML_TYPES: Final = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
"""Content types read as YAML."""
DRAIN_SECONDS: Final = 5.0
"""The longest a refused body is read (and dropped) before the 413 is sent."""
YAML_MAX_VALUES: Final = 20_000
"""The most values (scalars, mappings, sequences) a YAML body may hold: the YAML parser
builds some 900 bytes of nodes a value before it makes the document, so a 1 MB body of
small entries cost 120 MB; an experiment spec or template holds a few hundred. JSON has
no such bound (its parser makes the document directly)."""
PARSE_INLINE_BYTES: Final = 8192
"""Bodies up to this size are parsed on the event loop; larger ones in a worker thread."""
_GONE_LOG: Final = LineBudget(20)
"""Clients that went away mid-body are logged one line each, up to 20 lines a minute."""
_STATUS_NAMES: Final = {413: "REQUEST_ENTITY_TOO_LARGE"}
"""Reason names that differ between Python versions, pinned to Submarine's (JAX-RS) spelling."""


class ApiError(Exception):
    """An error answer: HTTP status code, the envelope's message, extra headers."""

    def __init__(self, code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(message)


def dump_bytes(value: Any) -> bytes:
    """JSON as every answer writes it, UTF-8 encoded: compact, as Submarine's Gson writes
    it, with characters kept (not ``\\u`` escaped) and NaN/Infinity as Python writes them."""
    return to_json(value, inf_nan_mode="constants")


def dumps(value: Any) -> str:
    """:func:`dump_bytes` as text."""
    return dump_bytes(value).decode("utf-8")


def _status_name(code: int) -> str:
    if code in _STATUS_NAMES:
        return _STATUS_NAMES[code]
    try:
        return HTTPStatus(code).name
    except ValueError:
        return str(code)


def envelope_body(
    code: int = 200,
    *,
    result: Any = None,
    message: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Submarine's envelope as a dict: ``success`` true for 2xx codes, null otherwise."""
    return {
        "status": _status_name(code),
        "code": code,
        "success": True if 200 <= code < 300 else None,
        "message": message,
        "result": result,
        "attributes": dict(attributes or {}),
    }


def envelope(
    code: int = 200,
    *,
    result: Any = None,
    message: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response in Submarine's envelope (nulls kept), see :func:`envelope_body`."""
    body = envelope_body(code, result=result, message=message, attributes=attributes)
    return Response(
        dump_bytes(body),
        status_code=code,
        headers=dict(headers or {}),
        media_type="application/json",
    )


# -- bodies -----------------------------------------------------------------------------


def _drain_budget(limit: int) -> int:
    """The most bytes of a refused body read before answering: a small limit (the login
    route's) drains little, as its client need not be authenticated."""
    return 8 * limit + min(limit, 1 << 20)


async def _drain(chunks: AsyncIterator[bytes], budget: int) -> None:
    """Read and drop what is left of a refused body, at most ``budget`` bytes and
    :data:`DRAIN_SECONDS`, so that a client still sending reads the 413."""

    async def consume() -> None:
        seen = 0
        async for chunk in chunks:
            seen += len(chunk)
            if seen >= budget:
                return

    try:
        await asyncio.wait_for(consume(), DRAIN_SECONDS)
    except (asyncio.TimeoutError, ClientDisconnect):
        logger.debug("stopped draining a refused body", exc_info=True)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes, declared or sent.

    A refused body is drained (bounded: :func:`_drain`) before the 413 is raised; one
    declared larger than that bound is not read at all, and the connection is closed.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, f"Content-Length {declared!r} is not a number of bytes")
        size = int(declared)
        if size > limit:
            if size <= _drain_budget(limit):
                await _drain(request.stream(), size)
            raise ApiError(
                413,
                f"the request body is {size} bytes: at most {limit} are accepted",
                headers={"Connection": "close"},
            )
    chunks: list[bytes] = []
    total = 0
    stream = request.stream()
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > limit:
                await _drain(stream, _drain_budget(limit) - total)
                raise ApiError(
                    413,
                    f"the request body is larger than {limit} bytes, the most this server accepts",
                    headers={"Connection": "close"},
                )
            chunks.append(chunk)
    except ClientDisconnect:
        _log_gone(request, total, declared)
        raise ApiError(400, "the connection closed before the request body was complete") from None
    return b"".join(chunks)


def _log_gone(request: Request, received: int, declared: str | None) -> None:
    """One line for a client that went away (or was closed: too slow) mid-body."""
    skipped = _GONE_LOG.take()
    if skipped is None:
        return
    client = request.client.host if request.client else "?"
    of = f" of {declared.strip()}" if declared is not None else ""
    more = f" ({skipped} more since the last such line)" if skipped else ""
    logger.info(
        "%s %s from %s: the connection closed after %d%s bytes of the request body%s",
        request.method,
        log_text(request.url.path),
        client,
        received,
        of,
        more,
    )


def _check_yaml_events(text: str) -> None:
    """Refuse YAML anchors and aliases (they let a small body expand without bound) and
    more than :data:`YAML_MAX_VALUES` values, from the parser's events (which it keeps
    none of) before a node is built."""
    import yaml

    values = 0
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: fast, depth-bounded
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise ApiError(
                    400, "YAML aliases (*name) are not accepted in request bodies: write it out"
                )
            if isinstance(event, yaml.NodeEvent):
                values += 1
                if values > YAML_MAX_VALUES:
                    raise ApiError(
                        413,
                        f"the YAML body holds more than {YAML_MAX_VALUES:,} values (the most "
                        "a YAML body may hold): send it as JSON (Content-Type: "
                        "application/json)",
                    )
    except yaml.YAMLError:
        return  # parse_document reports it with line and column


def is_json_or_yaml(media: str) -> bool:
    """Whether a Content-Type (parameters dropped, lower case) is one a body may have.

    >>> is_json_or_yaml("application/json"), is_json_or_yaml("text/plain")
    (True, False)
    """
    return (
        media in JSON_TYPES
        or media in YAML_TYPES
        or (media.startswith("application/") and media.endswith("+json"))
    )


async def read_document(request: Request, limit: int, *, what: str = "an experiment spec") -> Any:
    """Parse a JSON or YAML body by its Content-Type (refused with 415 when it is neither);
    an empty one is a 400 that asks for ``what``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_yaml = media in YAML_TYPES
    if not is_json_or_yaml(media):
        headers = request.headers
        bodiless = "transfer-encoding" not in headers and (
            headers.get("content-length", "0").strip() == "0"
        )
        if not media and bodiless:
            raise ApiError(400, f"the request body is empty: send {what}")
        raise ApiError(
            415,
            f"Content-Type {media!r} is not supported: send application/json or "
            "application/yaml (application/x-yaml and text/yaml work too)",
        )
    body = await read_body(request, limit)
    if len(body) <= PARSE_INLINE_BYTES:
        return _parse(body, is_yaml, what)
    return await run_in_threadpool(_parse, body, is_yaml, what)


def _parse(body: bytes, is_yaml: bool, what: str) -> Any:
    """The document of a body, or the :class:`ApiError` (400) that says what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the request body is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ApiError(400, f"the request body is empty: send {what}")
    if is_yaml:
        _check_yaml_events(text)
    try:
        return parse_document(text, yaml_syntax=is_yaml, source="request body")
    except SpecFileError as exc:
        raise ApiError(400, str(exc)) from None
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise ApiError(
                400,
                f"the request body holds a number of more than {sys.get_int_max_str_digits()} "
                "digits: no field of a spec takes one; write it as a string if it is text",
            ) from None
        raise ApiError(400, f"the request body cannot be read: {exc}") from None


def number_param(
    request: Request, name: str, default: float, *, low: float, high: float, whole: bool = False
) -> float:
    """A numeric query parameter: 400 when it is not a number, clamped to ``high``."""
    text = request.query_params.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < low:
        kind = "a whole number" if whole else "a number"
        raise ApiError(400, f"{name}={text!r} is not valid: give {kind} of at least {low:g}")
    return min(value, high)


# -- endpoints and errors ----------------------------------------------------------------


class ApiEndpoint(HTTPEndpoint):
    """A Starlette endpoint whose errors leave in the envelope: :class:`ApiError` as its
    code, a storage failure (``OSError``) as a 507, anything else as a logged 500.

    Wrong methods stay Starlette's ``HTTPException`` (405), for :func:`http_error`.
    """

    async def dispatch(self) -> None:
        """Answer the request with the method's handler, errors in the envelope."""
        request = Request(self.scope, receive=self.receive, send=self.send)
        try:
            response = await self._answer(request)
        except HTTPException:
            raise
        except ApiError as exc:
            response = envelope(exc.code, message=exc.message, headers=exc.headers)
        except OSError as exc:
            # A full, read-only or failing disk: nothing stored is lost and reads go on.
            logger.exception("%s %s could not write", request.method, log_text(request.url.path))
            response = envelope(
                507,
                message=f"the data dir cannot be written ({exc}): experiments already stored "
                "are kept and reads still work; free disk space or make the data dir "
                "writable, then try again",
            )
        except Exception as exc:
            logger.exception("%s %s failed", request.method, log_text(request.url.path))
            response = envelope(
                500,
                message=f"internal server error ({type(exc).__name__}); "
                "the server log has the details",
            )
        await response(self.scope, self.receive, self.send)

    async def _answer(self, request: Request) -> Response:
        if request.method not in self._allowed_methods:
            return await self.method_not_allowed(request)
        name = "get" if request.method == "HEAD" else request.method.lower()
        response: Response = await getattr(self, name)(request)
        return response


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes (404) and methods (405) in the envelope."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"{request.method} {request.url.path} is not an endpoint of this server"
    elif exc.status_code == 405:
        allowed = sorted(m.strip() for m in (exc.headers or {}).get("Allow", "").split(","))
        message = (
            f"method {request.method} is not allowed on {request.url.path}: "
            f"use {', '.join(allowed)}"
        )
    else:
        message = str(exc.detail)
    return envelope(exc.status_code, message=message, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """Anything unexpected outside a handler: a 500 envelope (the traceback is logged)."""
    logger.error("%s %s failed", request.method, log_text(request.url.path), exc_info=exc)
    return envelope(500, message=f"internal server error ({type(exc).__name__})")


# -- authentication ----------------------------------------------------------------------


class TokenGuard:
    """ASGI middleware: every path but the open ones needs the bearer token.

    The token is compared in constant time; a missing or wrong one gets a 401 envelope.
    With ``admit``, a request that sends no Authorization header at all passes when
    ``admit`` says so (the server's own user: :class:`~submarine.server.api.peers.OwnUser`);
    one that sends a wrong token never does.

    Args:
        app: the application behind the guard.
        token: the bearer token every guarded request must carry.
        open_paths: paths that need no token.
        admit: who else may pass without a token, asked with the request's scope.
    """

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        open_paths: frozenset[str],
        admit: Callable[[Scope], Awaitable[bool]] | None = None,
    ) -> None:
        self.app = app
        self._token = token.encode("utf-8")
        self._open = open_paths
        self._admit = admit

    def _allowed(self, scope: Scope) -> bool | None:
        """True for the right bearer token, False for any other Authorization, None for
        none at all."""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    credentials.strip(), self._token
                )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401 unless the request may pass."""
        if scope["type"] != "http" or scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        allowed = self._allowed(scope)
        if allowed is None and self._admit is not None:
            allowed = await self._admit(scope)
        if allowed:
            await self.app(scope, receive, send)
            return
        response = envelope(401, message=BAD_TOKEN, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

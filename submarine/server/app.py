"""The local server's HTTP layer: Submarine's experiment routes, envelope and error mapping.

Built on Starlette (not FastAPI): a handful of routes, full control of Submarine's envelope
and error mapping, JSON and YAML bodies, and no 422 shapes to override. Handlers are thin:
they parse and validate, call the store and the runner, and wrap the answer.

Every answer is Submarine's envelope, errors included (404 for unknown routes, 405, 413,
415, malformed bodies, 500)::

    {"status": "OK", "code": 200, "success": true, "message": null, "result": ..., "attributes": {}}

Differences from the real server, all on purpose:

* ``GET /api/v1/experiment?status=S`` filters (the real server ignores ``status``).
* ``GET /api/v1/experiment/logs?status=S`` returns each pod's lines (the real server sends
  empty ``podLog`` lists there); local logs are cheap to read.
* A spec the models refuse is a 400 whose message lists every problem with its path.
* Without a valid token the answer is a 401 envelope, not a servlet error page.
* ``code.git.password`` and credentials in ``code.git.url`` are kept for the runner but
  never sent back; a patch that repeats the same repository without them keeps them.
* A list of more than :data:`LIST_BATCH` experiments is streamed (chunked, no
  Content-Length): the same JSON, written batch by batch in a worker thread from the stored
  rows, so a big list neither blocks the event loop nor is held whole in memory.
* Extension (local server only): ``GET /api/v1/experiment/{id}/log-stream`` returns new
  log lines since a cursor, long-polling up to ``wait`` seconds; ping advertises it in
  ``attributes.extensions``.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any, Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from submarine.models import (
    TERMINAL_STATUSES,
    ExperimentSpec,
    ExperimentStatus,
    SpecFileError,
    parse_document,
    parse_status,
)
from submarine.server.runner import Runner
from submarine.server.settings import Settings
from submarine.server.store import ExperimentRecord, Store
from submarine.server.wire import (
    ListAnswer,
    SpecError,
    dumps,
    experiment_payload,
    keep_credentials,
    log_payload,
    read_spec,
    stored_spec,
)

__all__ = ["EXTENSIONS", "ID_PATTERN", "ApiError", "create_app", "envelope"]

logger = logging.getLogger(__name__)

ID_PATTERN: Final = re.compile(r"experiment[-_][0-9]{1,20}[-_][0-9]{1,10}")
"""Experiment ids this server accepts in paths (both Submarine spellings)."""
EXTENSIONS: Final = ("log-stream",)
"""Extensions of the Submarine API this server offers, advertised by ping."""
NOT_FOUND: Final = "Not found experiment."
"""Message of an unknown or malformed experiment id (as the real server words it)."""
BAD_TOKEN: Final = "The token is not valid."
"""Message of a request without a valid bearer token."""
OPEN_PATHS: Final = frozenset({"/api/v1/experiment/ping", "/api/auth/token"})
"""Paths that need no token."""
JSON_TYPES: Final = frozenset({"", "application/json", "text/json", "text/plain"})
"""Content types read as JSON (also any ``+json`` type and none at all)."""
YAML_TYPES: Final = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
"""Content types read as YAML."""
MAX_WAIT: Final = 30.0
"""Longest long-poll of the log-stream extension, in seconds."""
DEFAULT_CHUNK: Final = 1 << 20
"""Bytes of log lines a log-stream answer holds when no ``limit`` is given."""
MAX_CHUNK: Final = 8 << 20
"""The largest ``limit`` of a log-stream answer (larger ones are clamped)."""
LIST_BATCH: Final = 500
"""Experiments per piece of a list answer; a list of more is streamed piece by piece."""
_STATUS_NAMES: Final = {413: "REQUEST_ENTITY_TOO_LARGE"}
"""Reason names that differ between Python versions, pinned to Submarine's (JAX-RS) spelling."""


class ApiError(Exception):
    """An error answer: HTTP status code and the envelope's message."""

    def __init__(self, code: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(message)


def _status_name(code: int) -> str:
    if code in _STATUS_NAMES:
        return _STATUS_NAMES[code]
    try:
        return HTTPStatus(code).name
    except ValueError:
        return str(code)


def envelope(
    code: int = 200,
    *,
    result: Any = None,
    message: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response in Submarine's envelope (nulls kept); ``success`` is true for 2xx codes and
    null otherwise, as on Submarine 0.8.0."""
    body = {
        "status": _status_name(code),
        "code": code,
        "success": True if 200 <= code < 300 else None,
        "message": message,
        "result": result,
        "attributes": dict(attributes or {}),
    }
    return Response(
        dumps(body).encode("utf-8"),
        status_code=code,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def _now() -> datetime:
    return datetime.now().astimezone()


def _check_id(experiment_id: str) -> str:
    """The id, if it has the shape of an experiment id; else the 404 of an unknown one."""
    if not ID_PATTERN.fullmatch(experiment_id):
        raise ApiError(404, NOT_FOUND)
    return experiment_id


# -- bodies -----------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes, declared or sent."""
    declared = request.headers.get("content-length")
    too_large = ApiError(
        413, f"the request body is larger than {limit} bytes, the most this server accepts"
    )
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, f"Content-Length {declared!r} is not a number of bytes")
        if int(declared) > limit:
            # Answer at once and close: a body that large is not read, and may never come.
            raise ApiError(
                413,
                f"the request body is {int(declared)} bytes: at most {limit} are accepted",
                headers={"Connection": "close"},
            )
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            await _drain(request, limit)
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: Request, limit: int) -> None:
    """Read and drop what is left of a refused body (bounded), so the client, still
    sending, reads the 413 instead of a reset connection."""
    budget = 8 * limit + (1 << 20)
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > budget:
                break
    except Exception:  # the stream was already consumed or the client went away
        logger.debug("stopped draining a refused body", exc_info=True)


def _reject_yaml_aliases(text: str) -> None:
    """Refuse YAML anchors and aliases: they let a small body expand without bound."""
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: fast, depth-bounded
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise ApiError(
                    400, "YAML aliases (*name) are not accepted in request bodies: write it out"
                )
    except yaml.YAMLError:
        return  # parse_document reports it with line and column


async def _read_document(request: Request, limit: int) -> Any:
    """Parse a JSON or YAML body by its Content-Type (JSON when missing or text/plain)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_yaml = media in YAML_TYPES
    if not (is_yaml or media in JSON_TYPES or media.endswith("+json")):
        raise ApiError(
            415,
            f"Content-Type {media!r} is not supported: send application/json or "
            "application/yaml (application/x-yaml and text/yaml work too)",
        )
    body = await _read_body(request, limit)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the request body is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ApiError(400, "the request body is empty: send an experiment spec")
    if is_yaml:
        _reject_yaml_aliases(text)
    try:
        return parse_document(text, yaml_syntax=is_yaml, source="request body")
    except SpecFileError as exc:
        raise ApiError(400, str(exc)) from None
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply") from None


def _list_answer(batches: Iterator[list[ExperimentRecord]]) -> ListAnswer:
    """The success envelope of a list of stored experiments, to write piece by piece."""
    head, _, tail = bytes(envelope(result=[]).body).decode("utf-8").partition("[]")
    return ListAnswer(batches, head + "[", "]" + tail)


async def _list_response(answer: ListAnswer) -> Response:
    """A list answer: whole when it fits in one piece, else streamed piece by piece; every
    piece is written in a worker thread, so the event loop keeps serving."""
    try:
        first = await run_in_threadpool(answer.read)
    except BaseException:
        answer.close()
        raise
    if answer.done:
        return Response(first, media_type="application/json")

    async def pieces() -> AsyncIterator[bytes]:
        try:
            yield first
            while not answer.done:
                yield await run_in_threadpool(answer.read)
        except Exception:
            # The status line is sent: all that is left is to cut the answer short.
            logger.exception("a streamed list answer failed part way")
            raise
        finally:
            answer.close()

    return StreamingResponse(pieces(), media_type="application/json")


# -- authentication ----------------------------------------------------------------------


class TokenGuard:
    """ASGI middleware: every path but ping and ``/api/auth/token`` needs the bearer token.

    The token is compared in constant time; a missing or wrong one gets a 401 envelope.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    credentials.strip(), self._token
                )
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401 unless the request may pass."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = envelope(401, message=BAD_TOKEN, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


# -- the application ---------------------------------------------------------------------


_Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(handler: _Handler) -> _Handler:
    """Turn ``ApiError`` into its envelope and anything unexpected into a logged 500."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return envelope(exc.code, message=exc.message, headers=exc.headers)
        except OSError as exc:
            # A full, read-only or failing disk: nothing stored is lost and reads go on.
            logger.exception("%s %s could not write", request.method, request.url.path)
            return envelope(
                507,
                message=f"the data dir cannot be written ({exc}): experiments already stored "
                "are kept and reads still work; free disk space or make the data dir "
                "writable, then try again",
            )
        except Exception as exc:
            logger.exception("%s %s failed", request.method, request.url.path)
            return envelope(
                500,
                message=f"internal server error ({type(exc).__name__}); "
                "the server log has the details",
            )

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _by_method(**handlers: _Handler) -> _Handler:
    """One endpoint that dispatches on the method (so a 405 lists every allowed one)."""
    table = {method: _endpoint(handler) for method, handler in handlers.items()}
    if "GET" in table:
        table["HEAD"] = table["GET"]

    async def dispatch(request: Request) -> Response:
        return await table[request.method](request)

    return dispatch


@dataclass
class _Services:
    store: Store | None = None
    runner: Runner | None = None


class _Api:
    """The route handlers over the services the lifespan opens."""

    def __init__(self, settings: Settings, services: _Services) -> None:
        self.settings = settings
        self.services = services

    @property
    def store(self) -> Store:
        if self.services.store is None:
            raise ApiError(503, "the server is starting or stopping: try again")
        return self.services.store

    @property
    def runner(self) -> Runner:
        if self.services.runner is None:
            raise ApiError(503, "the server is starting or stopping: try again")
        return self.services.runner

    def _record(self, experiment_id: str) -> ExperimentRecord:
        record = self.store.get(_check_id(experiment_id))
        if record is None:
            raise ApiError(404, NOT_FOUND)
        return record

    def _status_filter(self, request: Request) -> str | None:
        status = request.query_params.get("status")
        if status is None or not status.strip():
            return None
        try:
            return parse_status(status).value
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None

    def _log_payload(self, record: ExperimentRecord) -> dict[str, Any]:
        return log_payload(record.experiment_id, self.runner.pod_logs(record.experiment_id))

    async def _read_spec(self, request: Request) -> ExperimentSpec:
        """The validated spec of a create or patch body, that this server can run."""
        document = await _read_document(request, self.settings.max_body_bytes)
        try:
            spec = read_spec(document)
        except SpecError as exc:
            raise ApiError(400, str(exc)) from None
        problem = self.runner.capacity_problem(spec)
        if problem is not None:
            raise ApiError(400, f"the experiment can never run on this server: {problem}")
        return spec

    # -- routes ---------------------------------------------------------------------

    async def ping(self, request: Request) -> Response:
        """GET /api/v1/experiment/ping: "Pong", and the extensions this server offers."""
        return envelope(result="Pong", attributes={"extensions": list(EXTENSIONS)})

    async def create(self, request: Request) -> Response:
        """POST /api/v1/experiment: validate, store as Accepted, queue."""
        spec = await self._read_spec(request)
        experiment_id = self.store.next_experiment_id()
        record = ExperimentRecord(
            experiment_id=experiment_id,
            uid=str(uuid.uuid4()),
            name=spec.meta.name.lower(),
            status=ExperimentStatus.ACCEPTED.value,
            spec=stored_spec(spec, experiment_id),
            accepted_time=_now(),
        )
        self.store.insert(record)
        self.runner.submit(experiment_id)
        return envelope(result=experiment_payload(record))

    async def list(self, request: Request) -> Response:
        """GET /api/v1/experiment?status=S: experiments, of one status if given."""
        batches = self.store.scan(self._status_filter(request), batch=LIST_BATCH)
        return await _list_response(_list_answer(batches))

    async def get(self, request: Request) -> Response:
        """GET /api/v1/experiment/{id}."""
        return envelope(result=experiment_payload(self._record(request.path_params["id"])))

    async def patch(self, request: Request) -> Response:
        """PATCH /api/v1/experiment/{id}: replace the whole spec (validated like create)."""
        record = self._record(request.path_params["id"])
        spec = await self._read_spec(request)
        wire = stored_spec(spec, record.experiment_id)
        keep_credentials(wire, record.spec)
        self.store.replace_spec(record.experiment_id, wire)
        self.runner.spec_changed(record.experiment_id)
        updated = self.store.get(record.experiment_id)
        if updated is None:  # deleted meanwhile
            raise ApiError(404, NOT_FOUND)
        return envelope(result=experiment_payload(updated))

    async def delete(self, request: Request) -> Response:
        """DELETE /api/v1/experiment/{id}: stop its processes, forget it, answer Deleted."""
        record = self._record(request.path_params["id"])
        await self.runner.stop(record.experiment_id)
        # The record goes before the files: a store that cannot write refuses the delete
        # and the experiment keeps its logs.
        self.store.delete(record.experiment_id)
        self.runner.discard_files(record.experiment_id)
        record.status = ExperimentStatus.DELETED.value
        return envelope(result=experiment_payload(record, deleted=True))

    async def log(self, request: Request) -> Response:
        """GET /api/v1/experiment/logs/{id}: every pod's lines so far."""
        record = self._record(request.path_params["id"])
        # Whole logs can be large (tens of MB): read and encode them off the event loop.
        return await run_in_threadpool(lambda: envelope(result=self._log_payload(record)))

    async def list_logs(self, request: Request) -> Response:
        """GET /api/v1/experiment/logs?status=S: the logs of every (matching) experiment."""
        status = self._status_filter(request)

        def answer() -> Response:
            records = self.store.list(status)
            return envelope(result=[self._log_payload(r) for r in records])

        return await run_in_threadpool(answer)

    async def log_stream(self, request: Request) -> Response:
        """GET /api/v1/experiment/{id}/log-stream?cursor=C&wait=S&limit=B (extension)."""
        experiment_id = _check_id(request.path_params["id"])
        cursor = request.query_params.get("cursor") or None
        wait = _number(request, "wait", 0.0, low=0.0, high=MAX_WAIT)
        limit = int(_number(request, "limit", DEFAULT_CHUNK, low=1, high=MAX_CHUNK, whole=True))
        # The status is read before the lines: once it is terminal, every line is written.
        record = self._record(experiment_id)
        chunk = self._chunk(experiment_id, cursor, limit)
        quiet = not chunk.more and not any(lines for _, lines in chunk.pods)
        terminal = parse_status(record.status) in TERMINAL_STATUSES
        if wait > 0 and quiet and not terminal:
            await self.runner.wait_for_change(experiment_id, wait, cursor=chunk.cursor)
            record = self._record(experiment_id)
            chunk = self._chunk(experiment_id, cursor, limit)
        return envelope(
            result={
                "experimentId": experiment_id,
                "status": record.status,
                "pods": [{"podName": name, "lines": lines} for name, lines in chunk.pods],
                "cursor": chunk.cursor,
                "more": chunk.more,
            }
        )

    def _chunk(self, experiment_id: str, cursor: str | None, limit: int) -> Any:
        try:
            return self.runner.read_chunk(experiment_id, cursor, limit)
        except ValueError as exc:
            raise ApiError(400, f"cursor {cursor!r} is not valid: {exc}") from None

    async def token(self, request: Request) -> Response:
        """POST /api/auth/token: the token, for the configured user and password."""
        settings = self.settings
        if settings.username is None or settings.password is None or settings.token is None:
            raise ApiError(
                401,
                "this server has no user: start it with --username and --password "
                "(and --token) to hand out tokens",
            )
        document = await _read_document(request, settings.max_body_bytes)
        if not isinstance(document, Mapping):
            raise ApiError(400, 'send {"username": "...", "password": "..."}')
        username, password = document.get("username"), document.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApiError(400, 'send {"username": "...", "password": "..."} as strings')
        # Both comparisons run every time, so timing tells nothing about which one failed.
        user_ok = hmac.compare_digest(username.encode(), settings.username.encode())
        password_ok = hmac.compare_digest(password.encode(), settings.password.encode())
        if not (user_ok and password_ok):
            raise ApiError(401, "Invalid username or password.")
        return envelope(result=settings.token)


def _number(
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


async def _http_error(request: Request, exc: Exception) -> Response:
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


async def _server_error(request: Request, exc: Exception) -> Response:
    """Anything unexpected outside a handler: a 500 envelope (the traceback is logged)."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return envelope(500, message=f"internal server error ({type(exc).__name__})")


def create_app(settings: Settings) -> Starlette:
    """The ASGI app of the local server; its lifespan opens the store and runs the runner.

    >>> app = create_app(Settings(data_dir=Path("/tmp/sub")))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)           # doctest: +SKIP

    Args:
        settings: where data lives, who may call, capacity and limits.
    """
    settings = settings.with_token()
    services = _Services()
    api = _Api(settings, services)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store(settings.database)
        runner = Runner(store, settings)
        try:
            await runner.start()
            services.store, services.runner = store, runner
            yield
        finally:
            services.runner = None
            try:
                await runner.close()
            finally:
                services.store = None
                store.close()

    base = "/api/v1/experiment"
    # Ids are matched with the path converter so that any text after the base reaches the
    # handler and gets the "Not found experiment." answer of an invalid id.
    routes = [
        Route(f"{base}/ping", _endpoint(api.ping), methods=["GET"]),
        Route(base, _by_method(GET=api.list, POST=api.create), methods=["GET", "POST"]),
        Route(f"{base}/logs", _endpoint(api.list_logs), methods=["GET"]),
        Route(f"{base}/logs/{{id:path}}", _endpoint(api.log), methods=["GET"]),
        Route(f"{base}/{{id}}/log-stream", _endpoint(api.log_stream), methods=["GET"]),
        Route(
            f"{base}/{{id:path}}",
            _by_method(GET=api.get, PATCH=api.patch, DELETE=api.delete),
            methods=["GET", "PATCH", "DELETE"],
        ),
        Route("/api/auth/token", _endpoint(api.token), methods=["POST"]),
    ]
    middleware = [Middleware(TokenGuard, token=settings.token)] if settings.token else []
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )

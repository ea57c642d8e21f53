"""Submarine's experiment API over the store and the runner (``/api/v1/experiment``).

Built on Starlette (not FastAPI): a handful of routes, full control of Submarine's envelope
and error mapping, JSON and YAML bodies, and no 422 shapes to override. Each route is an
``HTTPEndpoint`` whose handlers parse and validate, call the store and the runner, and wrap
the answer; the envelope, bodies and errors are :mod:`~submarine.server.api.rest`'s job, the
payloads :mod:`~submarine.server.api.wire`'s. The lifespan opens the store and starts the runner
and hands both to the handlers as lifespan state.

Differences from the real server, all on purpose:

* ``GET /api/v1/experiment?status=S`` filters (the real server ignores ``status``).
* ``GET /api/v1/experiment/logs?status=S`` returns each pod's lines (the real server sends
  empty ``podLog`` lists there); local logs are cheap to read.
* A spec the models refuse is a 400 whose message lists every problem with its path; so
  is one whose ``environment.name`` names no stored environment (0.8.0 runs it without one).
* Without a valid token the answer is a 401 envelope, not a servlet error page.
* Requests a browser marks as cross-site, a Host header that names another server and
  writes whose body is not JSON or YAML are refused (403, 421, 415) before any route:
  see :mod:`~submarine.server.api.guard`.
* ``code.git.password`` and credentials in ``code.git.url`` are kept for the runner but
  never sent back; a patch that repeats the same repository without them keeps them.
* A list of more than :data:`LIST_BATCH` experiments is streamed (chunked, no
  Content-Length): the same JSON, written batch by batch in a worker thread from the stored
  records, so a big list neither blocks the event loop nor is held whole in memory.
* An Experiment answer has one more field than 0.8.0's, ``reason`` (0.8.0's clients ignore
  it): why the experiment waits (its place in the queue and what it needs) or failed (the
  failing pod and its exit code or signal), else null.
* ``GET /api/v1/experiment`` answers with an ``ETag``; a request whose ``If-None-Match``
  names it gets ``304 Not Modified`` and no body while no experiment changed (a client
  that sends no ``If-None-Match``, as 0.8.0's do not, sees no difference). With
  ``?since=<version>`` (the version in that tag, ``<epoch>.<n>``) the answer is what
  changed after it: ``{"version", "full", "changed": [experiments], "removed": [ids]}``;
  ``full`` (every experiment in ``changed``) when the version is of another start.
* Extension (local server only): ``GET /api/v1/experiment/{id}/log-stream`` returns new
  log lines since a cursor, at most :data:`MAX_CHUNK` bytes of them, long-polling up to
  ``wait`` seconds; ping advertises it in ``attributes.extensions``. The files are read
  and the answer encoded in worker threads, while it is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from submarine.models import TERMINAL_STATUSES, ExperimentSpec, ExperimentStatus, parse_status
from submarine.server.api.create import answer, create_experiment, runnable_spec
from submarine.server.api.logs import (
    STREAM_PIECE,
    chunk_pieces,
    experiment_logs,
    log_pieces,
    log_response,
    pod_log_pieces,
)
from submarine.server.api.rest import (
    ApiError,
    envelope,
    number_param,
    read_document,
)
from submarine.server.api.services import ServiceEndpoint, route
from submarine.server.api.templates import submit_template
from submarine.server.api.wire import (
    experiment_payload,
    keep_credentials,
    list_response,
    stored_spec,
)
from submarine.server.run.podlogs import ChunkPlan
from submarine.server.store.experiments import ExperimentRecord, Store

__all__ = [
    "BASE",
    "EXTENSIONS",
    "ID_PATTERN",
    "LIST_BATCH",
    "OPEN_PATHS",
    "experiment_routes",
    "list_etag",
]

ID_PATTERN: Final = re.compile(r"experiment[-_][0-9]{1,20}[-_][0-9]{1,10}")
"""Experiment ids this server accepts in paths (both Submarine spellings)."""
EXTENSIONS: Final = ("log-stream", "tracking-page", "tracking-summary", "template-preview")
"""Extensions of the Submarine API this server offers, advertised by ping (``tracking-page``
is the paged metric and param read of :mod:`submarine.server.tracking`, ``tracking-summary``
its latest values of every experiment, ``template-preview``
the dry run of a template submit of :mod:`.templates`)."""
NOT_FOUND: Final = "Not found experiment."
"""Message of an unknown or malformed experiment id (as the real server words it)."""
OPEN_PATHS: Final = frozenset({"/api/v1/experiment/ping", "/api/auth/token"})
"""Paths that need no token (ping, and the login of :mod:`.logins`)."""
MAX_WAIT: Final = 30.0
"""Longest long-poll of the log-stream extension, in seconds."""
DEFAULT_CHUNK: Final = 1 << 20
"""Bytes of log lines a log-stream answer holds when no ``limit`` is given."""
MAX_CHUNK: Final = 1 << 20
"""The largest ``limit`` of a log-stream answer (larger ones are clamped): a bigger one
saves a client few requests and costs the server as much more per request."""
LIST_BATCH: Final = 500
"""Experiments per piece of a list answer; a list of more is streamed piece by piece."""
BASE: Final = "/api/v1/experiment"
"""Where Submarine's experiment API lives."""
_GET_ONLY: Final = frozenset({"ping", "logs"})
"""Names under :data:`BASE` that are routes of their own, read-only (no template submit)."""


def list_etag(version: str, status: str | None) -> str:
    """The entity tag of a list answer: the store's version (it moves with every write)
    and the status filter. Weak: the same records are the same answer, byte for byte or not."""
    return f'W/"experiments-{version}-{status or "all"}"'


def _changes(store: Store, since: str, reasons: Mapping[str, str]) -> dict[str, Any]:
    """The answer of ``?since=``: what changed after the version ``since`` (``reasons``:
    why experiments wait, by id)."""
    match = re.fullmatch(r"(\d{1,20})\.(\d{1,20})", since.strip())
    if match is None:
        raise ApiError(400, f"since {since!r} is not valid: give the <epoch>.<n> of a list's ETag")
    other_start = int(match.group(1)) != store.epoch
    changed, removed, now, pruned = store.changes_since(0 if other_start else int(match.group(2)))
    full = other_start or pruned
    return {
        "version": f"{store.epoch}.{now}",
        "full": full,
        "changed": [
            experiment_payload(record, reason=reasons.get(record.experiment_id))
            for record in changed
        ],
        "removed": [] if full else removed,
    }


def _etags(header: str) -> set[str]:
    """The tags an ``If-None-Match`` header names (weak comparison: ``W/`` is ignored)."""
    tags = {tag.strip() for tag in header.split(",") if tag.strip()}
    return tags | {f"W/{tag}" for tag in tags if not tag.startswith("W/")}


def _check_id(experiment_id: str) -> str:
    """The id, if it has the shape of an experiment id; else the 404 of an unknown one."""
    if not ID_PATTERN.fullmatch(experiment_id):
        raise ApiError(404, NOT_FOUND)
    return experiment_id


class _Endpoint(ServiceEndpoint):
    """What the experiment routes share: lookups by id, the status filter, the spec."""

    def _record(self, request: Request) -> ExperimentRecord:
        """The experiment of the path's id, or the 404 of an unknown one."""
        record = self._store(request).get(_check_id(request.path_params["id"]))
        if record is None:
            raise ApiError(404, NOT_FOUND)
        return record

    @staticmethod
    def _status_filter(request: Request) -> str | None:
        status = request.query_params.get("status")
        if status is None or not status.strip():
            return None
        try:
            return parse_status(status).value
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None

    def _payload(self, request: Request, record: ExperimentRecord) -> dict[str, Any]:
        """The Experiment answer, with why it waits if it does."""
        return answer(record, self._services(request))

    async def _read_spec(self, request: Request) -> ExperimentSpec:
        """The validated spec of a create or patch body, that this server can run."""
        services = self._services(request)
        document = await read_document(request, services["settings"].max_body_bytes)
        return runnable_spec(document, services)


class Ping(_Endpoint):
    """``/api/v1/experiment/ping``."""

    async def get(self, request: Request) -> Response:
        """ "Pong", and the extensions this server offers."""
        return envelope(result="Pong", attributes={"extensions": list(EXTENSIONS)})


class Experiments(_Endpoint):
    """``/api/v1/experiment``: list and create."""

    async def get(self, request: Request) -> Response:
        """Experiments, of one status if ``?status=`` is given; ``304`` when the request's
        ``If-None-Match`` names the list as it is (see :func:`list_etag`)."""
        store = self._store(request)
        wanted = self._status_filter(request)
        since = request.query_params.get("since")
        if since is not None and wanted is not None:
            raise ApiError(400, "since cannot be combined with status: filter the changes")
        etag = list_etag(await run_in_threadpool(lambda: store.version), wanted)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        if since is not None:
            reasons = self._runner(request).waiting_reasons()
            answer = await run_in_threadpool(_changes, store, since, reasons)
            return envelope(result=answer, headers=headers)
        response = await list_response(
            store.scan(wanted, batch=LIST_BATCH), self._runner(request).waiting_reasons()
        )
        response.headers.update(headers)
        return response

    async def post(self, request: Request) -> Response:
        """Validate, store as Accepted (created at once, as on 0.8.0), queue."""
        spec = await self._read_spec(request)
        record = create_experiment(spec, self._services(request))
        return envelope(result=self._payload(request, record))


class Experiment(_Endpoint):
    """``/api/v1/experiment/{id}``: get, patch, delete; and ``POST
    /api/v1/experiment/{templateName}``, which submits a template (Submarine's path for it)."""

    async def post(self, request: Request) -> Response:
        """Submit the template named in the path (see :mod:`.templates`); ``ping``,
        ``logs``, ``logs/{id}`` and ``{id}/log-stream`` are routes of their own that take
        GET only."""
        name = request.path_params["id"]
        if name in _GET_ONLY or name.startswith("logs/") or name.endswith("/log-stream"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        return await submit_template(request, self._services(request))

    async def get(self, request: Request) -> Response:
        """The experiment."""
        return envelope(result=self._payload(request, self._record(request)))

    async def patch(self, request: Request) -> Response:
        """Replace the whole spec (validated like create)."""
        record = self._record(request)
        spec = await self._read_spec(request)
        store = self._store(request)
        wire = stored_spec(spec, record.experiment_id)
        keep_credentials(wire, record.spec)
        store.replace_spec(record.experiment_id, wire)
        self._runner(request).spec_changed(record.experiment_id)
        updated = store.get(record.experiment_id)
        if updated is None:  # deleted meanwhile
            raise ApiError(404, NOT_FOUND)
        return envelope(result=self._payload(request, updated))

    async def delete(self, request: Request) -> Response:
        """Stop its processes, forget it, answer it Deleted (every time null, as on 0.8.0)."""
        record = self._record(request)
        services = self._services(request)
        runner = services["runner"]
        await runner.stop(record.experiment_id)
        # The record goes before the files: a store that cannot write refuses the delete
        # and the experiment keeps its logs (and its metrics).
        services["store"].delete(record.experiment_id)
        runner.discard_files(record.experiment_id)
        await run_in_threadpool(services["on_delete"], record.experiment_id)
        record.status = ExperimentStatus.DELETED.value
        return envelope(result=experiment_payload(record, deleted=True))


class Logs(_Endpoint):
    """``/api/v1/experiment/logs``: the logs of every (matching) experiment."""

    async def get(self, request: Request) -> Response:
        """Each experiment's pods and lines, of one status if ``?status=`` is given;
        written while the logs are read, in bounded memory (see :mod:`.loganswer`)."""
        status = self._status_filter(request)
        store, runner = self._store(request), self._runner(request)
        ids = await run_in_threadpool(lambda: [r.experiment_id for r in store.list(status)])
        return await log_response(log_pieces(experiment_logs(ids, runner.pod_files)))


class Log(_Endpoint):
    """``/api/v1/experiment/logs/{id}``: one experiment's logs."""

    async def get(self, request: Request) -> Response:
        """Every pod's lines so far, written while the log files are read, in bounded
        memory, off the event loop (logs can be hundreds of MB)."""
        record = self._record(request)
        pods = self._runner(request).pod_files(record.experiment_id)
        return await log_response(log_pieces(pod_log_pieces(record.experiment_id, pods)))


class LogStream(_Endpoint):
    """``/api/v1/experiment/{id}/log-stream?cursor=C&wait=S&limit=B`` (extension)."""

    async def get(self, request: Request) -> Response:
        """New lines since the cursor, waiting up to ``wait`` seconds for some.

        The files are looked at and read, and the answer encoded, in worker threads; the
        answer is written as its lines are read, so a client that does not read it holds
        a piece of it, not the chunk.
        """
        experiment_id = _check_id(request.path_params["id"])
        cursor = request.query_params.get("cursor") or None
        wait = number_param(request, "wait", 0.0, low=0.0, high=MAX_WAIT)
        limit = int(
            number_param(request, "limit", DEFAULT_CHUNK, low=1, high=MAX_CHUNK, whole=True)
        )
        # The status is read before the lines: once it is terminal, every line is written.
        record = self._record(request)
        plan = await self._plan(request, cursor, limit)
        terminal = parse_status(record.status) in TERMINAL_STATUSES
        if wait > 0 and plan.quiet and not terminal:
            await self._runner(request).wait_for_change(experiment_id, wait, cursor=plan.cursor)
            record = self._record(request)
            plan = await self._plan(request, cursor, limit)
        pieces = chunk_pieces(experiment_id, record.status, plan)
        return await log_response(log_pieces(pieces, STREAM_PIECE))

    async def _plan(self, request: Request, cursor: str | None, limit: int) -> ChunkPlan:
        runner, experiment_id = self._runner(request), request.path_params["id"]
        try:
            return await run_in_threadpool(runner.plan_chunk, experiment_id, cursor, limit)
        except ValueError as exc:
            raise ApiError(400, f"cursor {cursor!r} is not valid: {exc}") from None


def experiment_routes() -> list[Route]:
    """The routes of Submarine's experiment API. Ids are matched with the path converter so
    that any text after the base reaches the handler and gets the "Not found experiment."
    answer of an invalid id."""
    return [
        route(f"{BASE}/ping", Ping),
        route(BASE, Experiments),
        route(f"{BASE}/logs", Logs),
        route(f"{BASE}/logs/{{id:path}}", Log),
        route(f"{BASE}/{{id}}/log-stream", LogStream),
        route(f"{BASE}/{{id:path}}", Experiment),
    ]

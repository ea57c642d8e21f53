"""Experiment tracking on the local server: metrics and params, stored and served.

Replicas send what :func:`submarine.log_metric` and :func:`submarine.log_param` record to
``POST /api/metric/add`` and ``POST /api/param/add``, in batches (a JSON list; one object
works too, as on Submarine 0.8.0). Each replica gets, in its environment,
``SUBMARINE_TRACKING_URI`` (this server) and ``SUBMARINE_TRACKING_TOKEN``: its experiment
id and an HMAC of it under a secret of the server (kept in its data dir, so that credentials
outlive a restart), that lets it add records to that one experiment and do nothing else.
The server's own token works on these paths too, and so does, on a server that generated
its token, a request of the server's own user that sends none (:mod:`..api.peers`). The
credential is checked before the body is read (it names its experiment, so the check needs
nothing from the body): an unauthenticated client makes the server read and parse nothing.

Reads are 0.8.0's workbench calls: ``POST /api/metric/selective`` and
``POST /api/param/selective`` with ``{"id": experimentId}`` (optionally ``key`` and
``workerIndex``), and ``GET /api/metric/list?id=..&metricKey=..&workerIndex=..``,
``GET /api/param/list?id=..&paramKey=..``; each answers the envelope with a list of
``{id, key, value, workerIndex, timestamp, step, isNan}`` (params:
``{id, key, value, workerIndex}``), written while the store is read (chunked past one
piece), never built whole in memory. As in 0.8.0's answers, NaN is value 0 with ``isNan``
true, an infinity ±1.7976931348623157e308, and a metric without a step has step 0.
Differences from 0.8.0: ``timestamp`` is milliseconds since the epoch (0.8.0 writes a
``java.sql.Timestamp`` as ``"yyyy-MM-dd HH:mm:ss"`` in its zone), rows carry no
``BaseEntity`` keys (``createBy``...), and an add answers how many records it stored.

Extension (local server only, ``tracking-page`` in ping's extensions): the paged read
``GET /api/metric/page?id=..&cursor=..&limit=..`` (and ``/api/param/page``; ``key`` and
``workerIndex`` filter) answers only the records after a cursor, per key and worker, in a
page of bounded size (:mod:`.reads`); the page and the clients read metrics so. With
``buckets=N`` (and optionally ``start`` and ``end`` steps) a metric read answers every
record after the cursor at once, each series thinned to the first, last, lowest and highest
of each of N buckets (:mod:`.buckets`): what a chart of a million points needs.

Extension (``tracking-summary`` in ping's extensions): ``GET /api/metric/summary`` (also at
``/api/param/summary``; ``?ids=a,b`` for some experiments only) answers each experiment's
latest value of each metric key (at its highest step over all workers) and of each param,
bounded in size (:mod:`.summary`), with an ETag: ``If-None-Match`` gets a ``304`` while no
record was added and no experiment forgotten.

Each experiment may hold at most a quota of records and bytes (``--tracking-max-records``,
``--tracking-max-bytes``); a batch past it is refused with a 413 that says so, and nothing of
it is stored.

Records live in the server's SQLite database (:mod:`.store`); what bodies may hold is the
tracking contract, :mod:`submarine.models.trackwire`. Deleting an experiment forgets its
records (:meth:`Tracking.forget`, which the app calls).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from submarine.models.trackwire import TOKEN_ENV, URI_ENV, RecordError, is_text, read_batch
from submarine.server.api.logs import log_response
from submarine.server.api.rest import ApiEndpoint, ApiError, envelope, number_param, read_document
from submarine.server.tracking.buckets import MAX_BUCKETS, read_buckets
from submarine.server.tracking.reads import DEFAULT_PAGE, MAX_PAGE, read_page, selective_pieces
from submarine.server.tracking.store import QuotaError, TrackingQuota, TrackingStore
from submarine.server.tracking.summary import MAX_IDS

__all__ = [
    "ADD_PATHS",
    "PAGE_EXTENSION",
    "SUMMARY_EXTENSION",
    "AddressLearner",
    "Tracking",
    "tracking_for",
    "tracking_routes",
]

ADD_PATHS: Final = frozenset({"/api/metric/add", "/api/param/add"})
"""Paths a replica's tracking credential may call (they check credentials themselves)."""
PAGE_EXTENSION: Final = "tracking-page"
"""The name under which ping advertises the paged reads."""
SUMMARY_EXTENSION: Final = "tracking-summary"
"""The name under which ping advertises the summary read."""
ANY_EXPERIMENT: Final = "*"
"""What :meth:`Tracking.admitted` answers for a bearer that may add to every experiment."""
_MAX_ID_CHARS: Final = 200
"""The longest experiment id a credential may name (ids are some 30 characters)."""


class Tracking:
    """The tracking side of one server: its store, its secret and its address.

    Args:
        database: the server's SQLite file.
        token: the server's own token (also accepted by the add endpoints), or None.
        address: ``http://host:port`` when known in advance; else learnt from the first
            request (:class:`AddressLearner`).
        own_user: who may add without any credential, asked with a request's scope (the
            server's own user, on a server that generated its token); None for nobody.
    """

    def __init__(
        self,
        database: Path,
        token: str | None,
        address: str | None = None,
        *,
        own_user: Callable[[Scope], Awaitable[bool]] | None = None,
    ) -> None:
        self.store = TrackingStore(database)
        self.address = address
        self._token = token
        self._own_user = own_user
        self._secret = secrets.token_bytes(32)

    def use_secret(self, secret: bytes) -> None:
        """Make credentials with ``secret`` from now on (the one kept in the data dir, so
        that replicas go on adding across restarts)."""
        self._secret = secret

    def forget(self, experiment_id: str) -> None:
        """Drop the metrics and params of an experiment that was deleted."""
        self.store.forget(experiment_id)

    def credential(self, experiment_id: str) -> str:
        """The credential that may add records to this experiment only: the id, a dot
        and the HMAC of the id."""
        digest = hmac.new(self._secret, experiment_id.encode("utf-8"), hashlib.sha256)
        return f"{experiment_id}.{digest.hexdigest()}"

    def replica_env(self, experiment_id: str) -> dict[str, str]:
        """What a replica of the experiment needs to record metrics and params."""
        if self.address is None:
            return {}
        return {URI_ENV: self.address, TOKEN_ENV: self.credential(experiment_id)}

    def admitted(self, request: Request) -> str | None:
        """Which experiment the request's bearer may add records to, from its headers
        alone: :data:`ANY_EXPERIMENT` for the server's token (or anyone on a server
        without a token), the experiment a replica's credential names, None for anything
        else."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given = given.strip() if scheme.lower() == "bearer" else ""
        named, dot, _ = given.rpartition(".")
        credential = self.credential(named) if dot and len(named) <= _MAX_ID_CHARS else ""
        if credential and hmac.compare_digest(given.encode(), credential.encode()):
            return named
        if self._token is None or hmac.compare_digest(given.encode(), self._token.encode()):
            return ANY_EXPERIMENT
        return None

    async def admits_without_credential(self, request: Request) -> bool:
        """Whether a request that sends no credential at all comes from the server's own
        user (see ``own_user``)."""
        if self._own_user is None or "authorization" in request.headers:
            return False
        return await self._own_user(request.scope)


class AddressLearner:
    """ASGI middleware: tells :class:`Tracking` where this server listens, from the first
    request (the server may have been started on port 0)."""

    def __init__(self, app: ASGIApp, tracking: Tracking) -> None:
        self.app = app
        self._tracking = tracking

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Learn the address once, then pass the request on."""
        if self._tracking.address is None and scope["type"] == "http" and scope.get("server"):
            host, port = scope["server"]
            host = f"[{host}]" if ":" in host else host
            self._tracking.address = f"http://{host}:{port}"
        await self.app(scope, receive, send)


# -- routes ---------------------------------------------------------------------------------


def _text_param(value: Any) -> str | None:
    """A filter's value: a string, else no filter."""
    return value if isinstance(value, str) else None


def _experiment_param(value: Any) -> str:
    """The experiment id of a read: 400 unless it is Unicode text."""
    if not isinstance(value, str) or not value or not is_text(value):
        raise ApiError(400, 'id: send {"id": "<experiment id>"} (or ?id=<experiment id>)')
    return value


def _step_param(request: Request, name: str) -> float | None:
    """A step bound of a thinned read: 400 unless it is a finite number."""
    text = request.query_params.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ApiError(400, f"{name}={text[:40]!r} is not valid: give a step (a finite number)")
    return value


def _summary_ids(request: Request) -> list[str] | None:
    """The experiments a summary read asks for (``?ids=a,b``), or None for every one."""
    text = request.query_params.get("ids")
    if text is None:
        return None
    ids = sorted({part.strip() for part in text.split(",") if part.strip()})
    if len(ids) > MAX_IDS:
        raise ApiError(
            400, f"ids names {len(ids)} experiments: ask for at most {MAX_IDS} at a time"
        )
    if not all(is_text(part) for part in ids):
        raise ApiError(400, "ids: give experiment ids separated by commas")
    return ids


def _summary_etag(version: int, ids: list[str] | None) -> str:
    """The summary's entity tag: the change count, and which experiments were asked for."""
    asked = "all" if ids is None else hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    return f'W/"tracking-{version}-{asked}"'


def _names_tag(header: str, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison)."""
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def tracking_routes(
    tracking: Tracking, max_body_bytes: int, quota: TrackingQuota | None = None
) -> list[Route]:
    """The metric and param routes, over ``tracking``; ``quota`` bounds what each
    experiment holds (None: no bound)."""

    def experiment_known(request: Request, experiment_id: str) -> bool:
        store = (request.scope.get("state") or {}).get("store")
        if store is None:
            raise ApiError(503, "the server is starting or stopping: try again")
        return store.get(experiment_id) is not None

    def store_batch(kind: str, experiment_id: str, batch: Any, count: int) -> None:
        try:
            tracking.store.add(kind, experiment_id, batch, count=count, quota=quota)
        except QuotaError as exc:
            raise ApiError(413, str(exc)) from None

    class Add(ApiEndpoint):
        kind = "metric"

        async def post(self, request: Request) -> Response:
            """Store a record, or a list of records of one experiment."""
            admitted = tracking.admitted(request)
            if admitted is None and await tracking.admits_without_credential(request):
                admitted = ANY_EXPERIMENT  # the server's own user, who sent no credential
            if admitted is None:  # before the body is read: nothing is read for a stranger
                raise ApiError(401, "The token is not valid.")
            document = await read_document(request, max_body_bytes)
            try:
                experiment_id, batch, count = read_batch(
                    document, self.kind, time.time_ns() // 1_000_000
                )
            except RecordError as exc:
                raise ApiError(400, str(exc)) from None
            if admitted not in (ANY_EXPERIMENT, experiment_id):
                raise ApiError(401, "The token is not valid.")
            if not experiment_known(request, experiment_id):
                raise ApiError(404, f"Not found experiment. (no experiment {experiment_id!r})")
            # A batch of thousands of records is written off the event loop.
            await run_in_threadpool(store_batch, self.kind, experiment_id, batch, count)
            if not experiment_known(request, experiment_id):
                # Deleted while the batch was written, perhaps after it forgot the
                # experiment's records: forget them again, this batch with them.
                await run_in_threadpool(tracking.forget, experiment_id)
                raise ApiError(404, f"Not found experiment. (no experiment {experiment_id!r})")
            return envelope(result=True, attributes={"stored": count})

    class AddParam(Add):
        kind = "param"

    class Selective(ApiEndpoint):
        kind = "metric"

        async def post(self, request: Request) -> Response:
            """The records of ``{"id": ...}``, filtered by ``key`` and ``workerIndex``."""
            document = await read_document(request, max_body_bytes)
            if not isinstance(document, Mapping):
                raise ApiError(400, 'id: send {"id": "<experiment id>"}')
            return await self._answer_for(
                _experiment_param(document.get("id")),
                document.get("key"),
                document.get("workerIndex"),
            )

        async def _answer_for(self, experiment_id: str, key: Any, worker: Any) -> Response:
            pieces = selective_pieces(
                tracking.store,
                self.kind,
                experiment_id,
                key=_text_param(key),
                worker=_text_param(worker),
            )
            return await log_response(pieces)

    class SelectiveParam(Selective):
        kind = "param"

    class List(Selective):
        async def get(self, request: Request) -> Response:
            """The records of ``?id=``, filtered by the key and ``workerIndex``."""
            query = request.query_params
            experiment_id = _experiment_param(query.get("id"))
            key = query.get(f"{self.kind}Key") or query.get("key")
            return await self._answer_for(experiment_id, key, query.get("workerIndex"))

    class ListParam(List):
        kind = "param"

    class Page(ApiEndpoint):
        kind = "metric"

        async def get(self, request: Request) -> Response:
            """The records of ``?id=`` after ``cursor``: a page of at most ``limit``."""
            query = request.query_params
            experiment_id = _experiment_param(query.get("id"))
            limit = int(
                number_param(request, "limit", DEFAULT_PAGE, low=1, high=MAX_PAGE, whole=True)
            )

            if self.kind == "metric" and query.get("buckets") is not None:
                return await self._thinned(request, experiment_id)

            def page() -> bytes:
                return read_page(
                    tracking.store,
                    self.kind,
                    experiment_id,
                    cursor=query.get("cursor"),
                    limit=limit,
                    key=_text_param(query.get("key")),
                    worker=_text_param(query.get("workerIndex")),
                )

            try:
                body = await run_in_threadpool(page)
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            return Response(body, media_type="application/json")

        async def _thinned(self, request: Request, experiment_id: str) -> Response:
            """Every record after ``cursor``, thinned to ``buckets`` per series."""
            query = request.query_params
            buckets = number_param(request, "buckets", 1000, low=1, high=MAX_BUCKETS, whole=True)
            start, end = _step_param(request, "start"), _step_param(request, "end")

            def thinned() -> bytes:
                return read_buckets(
                    tracking.store,
                    experiment_id,
                    cursor=query.get("cursor"),
                    buckets=int(buckets),
                    key=_text_param(query.get("key")),
                    worker=_text_param(query.get("workerIndex")),
                    start=start,
                    end=end,
                )

            try:
                body = await run_in_threadpool(thinned)
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            return Response(body, media_type="application/json")

    class PageParam(Page):
        kind = "param"

    class Summary(ApiEndpoint):
        async def get(self, request: Request) -> Response:
            """Each experiment's latest metric and param values; 304 while unchanged."""
            ids = _summary_ids(request)
            version = await run_in_threadpool(tracking.store.version)
            etag = _summary_etag(version, ids)
            headers = {"ETag": etag, "Cache-Control": "no-cache"}
            if _names_tag(request.headers.get("if-none-match", ""), etag):
                return Response(status_code=304, headers=headers)
            result = await run_in_threadpool(tracking.store.summary, ids)
            # The tag of what was read (a batch may have come since the version was asked).
            headers["ETag"] = _summary_etag(int(result["version"]), ids)
            return envelope(result=result, headers=headers)

    return [
        Route("/api/metric/add", Add, methods=["POST"]),
        Route("/api/param/add", AddParam, methods=["POST"]),
        Route("/api/metric/selective", Selective, methods=["POST"]),
        Route("/api/param/selective", SelectiveParam, methods=["POST"]),
        Route("/api/metric/list", List, methods=["GET"]),
        Route("/api/param/list", ListParam, methods=["GET"]),
        Route("/api/metric/page", Page, methods=["GET"]),
        Route("/api/param/page", PageParam, methods=["GET"]),
        Route("/api/metric/summary", Summary, methods=["GET"]),
        Route("/api/param/summary", Summary, methods=["GET"]),
    ]


def tracking_for(
    database: Path,
    token: str | None,
    host: str,
    port: int,
    own_user: Callable[[Scope], Awaitable[bool]] | None = None,
) -> Tracking:
    """The tracking of a server with these settings; its address is known in advance
    unless the port is 0 (then the first request tells it)."""
    if port == 0:
        return Tracking(database, token, own_user=own_user)
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return Tracking(database, token, f"http://{host}:{port}", own_user=own_user)

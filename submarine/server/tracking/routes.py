"""Experiment tracking on the local server: metrics and params, stored and served.

Replicas send what :func:`submarine.log_metric` and :func:`submarine.log_param` record to
``POST /api/metric/add`` and ``POST /api/param/add``, in batches (a JSON list; one object
works too, as on Submarine 0.8.0). Each replica gets, in its environment,
``SUBMARINE_TRACKING_URI`` (this server) and ``SUBMARINE_TRACKING_TOKEN``: its experiment
id and an HMAC of it under a secret of this server process, that lets it add records to
that one experiment and do nothing else. The server's own token works on these paths too.
The credential is checked before the body is read (it names its experiment, so the check
needs nothing from the body): an unauthenticated client makes the server read and parse
nothing.

Reads are 0.8.0's workbench calls: ``POST /api/metric/selective`` and
``POST /api/param/selective`` with ``{"id": experimentId}`` (optionally ``key`` and
``workerIndex``), and ``GET /api/metric/list?id=..&metricKey=..&workerIndex=..``,
``GET /api/param/list?id=..&paramKey=..``; each answers the envelope with a list of
``{id, key, value, workerIndex, timestamp, step, isNan}`` (params:
``{id, key, value, workerIndex}``). Differences from 0.8.0: ``timestamp`` is milliseconds
since the epoch (0.8.0 writes a ``java.sql.Timestamp``), and an add answers how many records
it stored.

Records live in the server's SQLite database (:mod:`.store`); what bodies may hold is the
tracking contract, :mod:`submarine.models.trackwire`. Deleting an experiment forgets its
records (:meth:`Tracking.forget`, which the app calls).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from submarine.models.trackwire import TOKEN_ENV, URI_ENV, RecordError, read_batch
from submarine.server.api.rest import ApiEndpoint, ApiError, envelope, read_document
from submarine.server.tracking.store import TrackingStore

__all__ = [
    "ADD_PATHS",
    "AddressLearner",
    "Tracking",
    "tracking_for",
    "tracking_routes",
]

ADD_PATHS: Final = frozenset({"/api/metric/add", "/api/param/add"})
"""Paths a replica's tracking credential may call (they check credentials themselves)."""
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
    """

    def __init__(self, database: Path, token: str | None, address: str | None = None) -> None:
        self.store = TrackingStore(database)
        self.address = address
        self._token = token
        self._secret = secrets.token_bytes(32)

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


def tracking_routes(tracking: Tracking, max_body_bytes: int) -> list[Route]:
    """The metric and param routes, over ``tracking``."""

    def experiment_known(request: Request, experiment_id: str) -> bool:
        store = (request.scope.get("state") or {}).get("store")
        if store is None:
            raise ApiError(503, "the server is starting or stopping: try again")
        return store.get(experiment_id) is not None

    class Add(ApiEndpoint):
        kind = "metric"

        async def post(self, request: Request) -> Response:
            """Store a record, or a list of records of one experiment."""
            admitted = tracking.admitted(request)
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
            await run_in_threadpool(tracking.store.add, self.kind, experiment_id, batch)
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
            if not isinstance(document, Mapping) or not isinstance(document.get("id"), str):
                raise ApiError(400, 'id: send {"id": "<experiment id>"}')
            return await self._answer_for(
                document["id"], document.get("key"), document.get("workerIndex")
            )

        async def _answer_for(self, experiment_id: str, key: Any, worker: Any) -> Response:
            def answer() -> Response:
                result = tracking.store.select(
                    self.kind,
                    experiment_id,
                    key=key if isinstance(key, str) else None,
                    worker=worker if isinstance(worker, str) else None,
                )
                return envelope(result=result)

            return await run_in_threadpool(answer)

    class SelectiveParam(Selective):
        kind = "param"

    class List(Selective):
        async def get(self, request: Request) -> Response:
            """The records of ``?id=``, filtered by the key and ``workerIndex``."""
            query = request.query_params
            experiment_id = query.get("id")
            if not experiment_id:
                raise ApiError(400, "id: give ?id=<experiment id>")
            key = query.get(f"{self.kind}Key") or query.get("key")
            return await self._answer_for(experiment_id, key, query.get("workerIndex"))

    class ListParam(List):
        kind = "param"

    return [
        Route("/api/metric/add", Add, methods=["POST"]),
        Route("/api/param/add", AddParam, methods=["POST"]),
        Route("/api/metric/selective", Selective, methods=["POST"]),
        Route("/api/param/selective", SelectiveParam, methods=["POST"]),
        Route("/api/metric/list", List, methods=["GET"]),
        Route("/api/param/list", ListParam, methods=["GET"]),
    ]


def tracking_for(database: Path, token: str | None, host: str, port: int) -> Tracking:
    """The tracking of a server with these settings; its address is known in advance
    unless the port is 0 (then the first request tells it)."""
    if port == 0:
        return Tracking(database, token)
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return Tracking(database, token, f"http://{host}:{port}")

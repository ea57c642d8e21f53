"""The local server's composition root: the app that wires the wings together.

:func:`create_app` builds the Starlette app: the experiment, template and environment APIs
(:mod:`.api`), the tracking API (:mod:`.tracking`), saved models (:mod:`.artifacts`),
TensorBoard (:mod:`.board`, started on first use, stopped with the server) and the page
(:mod:`.workbench`) as routes, behind the request guard and the token guard (but with
``--no-auth``); its lifespan locks the data dir, opens the stores of experiments, templates
and environments (:mod:`.store`), starts the runner (:mod:`.run`) and hands them to the
handlers as lifespan state (:class:`~submarine.server.api.services.Services`), with
tracking's ``forget`` to call when an experiment is deleted (the API knows no tracking; an
experiment's saved models go with its directory). A fresh data dir is offered the example
templates of :mod:`.examples`.

Closed by default: without a token given (and without ``--no-auth``) the server generates
one and keeps it in the data dir (:func:`with_token`), and lets in without it only the
requests of its own user over loopback (:class:`~submarine.server.api.peers.OwnUser`).

Built on Starlette (not FastAPI): a handful of routes, full control of Submarine's envelope
and error mapping, JSON and YAML bodies, and no 422 shapes to override. How the local
server differs from Submarine 0.8.0 on purpose is listed in
:mod:`submarine.server.api.experiments`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from submarine.server.api.connections import EarlyAnswer
from submarine.server.api.environments import environment_routes
from submarine.server.api.experiments import OPEN_PATHS, experiment_routes
from submarine.server.api.guard import RequestGuard
from submarine.server.api.logins import FailureLimit
from submarine.server.api.peers import OwnUser
from submarine.server.api.rest import TokenGuard, http_error, server_error
from submarine.server.api.services import Services
from submarine.server.api.templates import stored_examples, template_routes
from submarine.server.api.token import early_refusal, token_route
from submarine.server.artifacts.files import ArtifactFiles
from submarine.server.artifacts.routes import PART_PATH, UPLOAD_PATHS, artifact_routes
from submarine.server.board.routes import PREFIX, board_routes
from submarine.server.board.service import TensorBoardService
from submarine.server.run.runner import Runner
from submarine.server.settings import Settings
from submarine.server.store.datadir import (
    TOKEN_NAME,
    TRACKING_SECRET_NAME,
    keep_secret,
    occupy,
)
from submarine.server.store.environments import EnvironmentStore
from submarine.server.store.experiments import Store
from submarine.server.store.templates import TemplateStore
from submarine.server.tracking.routes import (
    ADD_PATHS,
    AddressLearner,
    tracking_for,
    tracking_routes,
)
from submarine.server.tracking.store import TrackingQuota
from submarine.server.workbench.routes import PAGE_PATHS, workbench_routes

__all__ = ["create_app", "early_answer_of", "with_token"]

_GENERATED_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_TRACKING_SECRET: Final = re.compile(r"[0-9a-f]{64}")


def with_token(settings: Settings) -> Settings:
    """``settings`` with the token this server generated, when none was given (and not
    ``no_auth``): the one kept in the data dir (``token``, mode 0600), made the first time,
    so that it is the same after a restart.

    Raises:
        DataDirOwnerError: the data dir belongs to another user.
        ServerStartError: the token file cannot be read or written.
    """
    if not settings.needs_token:
        return settings
    token = keep_secret(
        settings.data_dir,
        TOKEN_NAME,
        lambda: secrets.token_urlsafe(32),
        lambda kept: _GENERATED_TOKEN.fullmatch(kept) is not None,
    )
    return settings.with_generated_token(token)


def create_app(settings: Settings) -> Starlette:
    """The ASGI app of the local server; its lifespan opens the store and runs the runner.

    >>> app = create_app(Settings(data_dir=Path("/tmp/sub")))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)           # doctest: +SKIP

    Without a token given (and without ``no_auth``), the token is read from the data dir,
    or generated and kept there (:func:`with_token`).

    Args:
        settings: where data lives, who may call, capacity and limits.
    """
    settings = with_token(settings)
    own_user = OwnUser() if settings.generated_token else None
    logins, peers = FailureLimit(), own_user or OwnUser()
    tracking = tracking_for(
        settings.database, settings.token, settings.host, settings.port, own_user
    )
    board = TensorBoardService(settings.data_dir)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Services]:
        # The data dir is locked before anything touches it (a second server stops here).
        with occupy(settings.data_dir, settings.database):
            secret = keep_secret(
                settings.data_dir,
                TRACKING_SECRET_NAME,
                lambda: secrets.token_hex(32),
                lambda kept: _TRACKING_SECRET.fullmatch(kept) is not None,
            )
            tracking.use_secret(secret.encode("ascii"))
            store = Store(settings.database)
            board.use_names(lambda i: r.name if (r := store.get(i)) is not None else None)
            environments = EnvironmentStore(settings.database, epoch=store.epoch)
            templates: TemplateStore | None = None
            try:
                templates = TemplateStore(settings.database)
                # A fresh data dir offers the example templates (once: a deleted one stays
                # deleted).
                templates.seed(stored_examples())
                runner = Runner(
                    store, settings, replica_env=tracking.replica_env, environments=environments
                )
                try:
                    await runner.start()
                    yield {
                        "settings": settings,
                        "store": store,
                        "templates": templates,
                        "environments": environments,
                        "runner": runner,
                        "logins": logins,
                        "peers": peers,
                        # A deleted experiment's metrics and params go with it.
                        "on_delete": tracking.forget,
                    }
                finally:
                    await run_in_threadpool(board.close)
                    await runner.close()
            finally:
                tracking.store.close()
                if templates is not None:
                    templates.close()
                environments.close()
                store.close()

    routes = [
        *workbench_routes(),
        *tracking_routes(
            tracking,
            settings.max_body_bytes,
            TrackingQuota(settings.tracking_max_records, settings.tracking_max_bytes),
        ),
        *template_routes(),
        # Before the experiment routes, whose /{id:path} would take their paths.
        *artifact_routes(
            ArtifactFiles(settings.data_dir),
            tracking,
            settings.artifact_max_bytes,
            settings.max_body_bytes,
        ),
        *board_routes(board),
        *experiment_routes(),
        *environment_routes(),
        token_route(),
    ]
    # The request guard comes first: a browser's cross-site or rebound request is refused
    # before anything else looks at it (the token route and ping included).
    middleware = [
        Middleware(
            RequestGuard,
            bound_host=settings.host,
            allow_origins=settings.allow_origins,
            allow_hosts=settings.allow_hosts,
            raw_put_paths=(PART_PATH,),
            form_prefixes=(f"{PREFIX}/",),
        ),
        Middleware(AddressLearner, tracking=tracking),
    ]
    if settings.token:
        open_paths = OPEN_PATHS | ADD_PATHS | UPLOAD_PATHS | PAGE_PATHS
        middleware.append(
            Middleware(TokenGuard, token=settings.token, open_paths=open_paths, admit=own_user)
        )
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.early_answer = early_refusal(logins, peers)
    return app


def early_answer_of(app: Starlette) -> EarlyAnswer | None:
    """What answers requests of ``app`` from their first bytes, for the connection guard
    (:func:`~submarine.server.api.connections.guarded_protocol`): a locked-out address's
    logins."""
    answer: EarlyAnswer | None = getattr(app.state, "early_answer", None)
    return answer

"""What every route of the API shares: the lifespan's services, and an endpoint base that
reads them.

The app's lifespan (:mod:`submarine.server.app`) opens the stores (experiments,
templates and environments), starts the runner and hands them, with the settings, the
login limit and what to call when an experiment is deleted, to the handlers as lifespan
state; :class:`ServiceEndpoint` reads them, answering 503 while the server starts or stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from starlette.requests import Request
from starlette.routing import Route

from submarine.server.api.logins import FailureLimit
from submarine.server.api.peers import OwnUser
from submarine.server.api.rest import ApiEndpoint, ApiError
from submarine.server.run.runner import Runner
from submarine.server.settings import Settings
from submarine.server.store.environments import EnvironmentStore
from submarine.server.store.experiments import Store
from submarine.server.store.templates import TemplateStore

__all__ = ["ServiceEndpoint", "Services", "route"]


class Services(TypedDict):
    """The lifespan state every handler reads: settings, and the store and runner it opened."""

    settings: Settings
    store: Store
    templates: TemplateStore
    """The experiment templates (in the store's database)."""
    environments: EnvironmentStore
    runner: Runner
    logins: FailureLimit
    peers: OwnUser
    """Who holds a loopback request's socket (the login budget is per local user there)."""
    on_delete: Callable[[str], None]
    """Called (in a worker thread) with the id of an experiment once it is deleted: other
    wings forget what they keep of it (tracking its metrics and params)."""


class ServiceEndpoint(ApiEndpoint):
    """An endpoint that reads the lifespan's services."""

    @staticmethod
    def _services(request: Request) -> Services:
        state = request.scope.get("state") or {}
        if "store" not in state or "runner" not in state:
            raise ApiError(503, "the server is starting or stopping: try again")
        services: Services = {
            "settings": state["settings"],
            "store": state["store"],
            "templates": state["templates"],
            "environments": state["environments"],
            "runner": state["runner"],
            "logins": state["logins"],
            "peers": state["peers"],
            "on_delete": state["on_delete"],
        }
        return services

    def _store(self, request: Request) -> Store:
        return self._services(request)["store"]

    def _runner(self, request: Request) -> Runner:
        return self._services(request)["runner"]


def route(path: str, endpoint: type[ApiEndpoint]) -> Route:
    """A route to an endpoint class, with the methods it answers (HEAD with GET), so that
    any other method is a 405 listing them."""
    methods = [m for m in ("GET", "POST", "PATCH", "DELETE") if hasattr(endpoint, m.lower())]
    return Route(path, endpoint, methods=methods)

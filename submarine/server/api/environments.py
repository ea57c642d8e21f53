"""Submarine's environment API over the environments' store (``/api/v1/environment``).

An environment is reached by name: ``POST`` creates one, ``GET`` lists them, and ``GET``,
``PATCH`` and ``DELETE /api/v1/environment/{name}`` read, replace and delete one. Answers
are 0.8.0's: ``{"environmentId": "environment_<epoch>_<n>", "environmentSpec": {...}}`` with
every field of the spec written, nulls included, and 0.8.0's messages: ``Environment not
found.`` (404), ``Invalid environment spec.`` (400, for a null body),
``Unable to process the environment spec.`` (400, a name taken).

Differences from Submarine 0.8.0, on purpose:

* A body is judged as an :class:`~submarine.models.EnvironmentDefinition`: a name is
  required (0.8.0 fails on a null one) and must be a Kubernetes name (0.8.0 names the init
  container of its replicas after it); dependencies must be packages, not options. The
  400 names every problem after ``Invalid environment spec.``.
* Every answer has the environment's stored id; 0.8.0 answers a null id from get, list and
  delete once its server restarted, and a new id, stored nowhere, from a patch.
* A patch must keep the name of the path (0.8.0 updates the environment its body names).
* A list has each environment once (0.8.0 lists its cache and, the first time, the
  database too).
* No environment is there before one is created (0.8.0's database comes with
  ``notebook-env`` and ``notebook-gpu-env``, for its notebooks).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from submarine.models import EnvironmentDefinition, problems_of
from submarine.server.api.rest import ApiError, envelope, read_document
from submarine.server.api.services import ServiceEndpoint, route
from submarine.server.api.wire import ENVIRONMENT_FIELDS, KERNEL_FIELDS
from submarine.server.store.environments import EnvironmentExistsError, EnvironmentRecord

__all__ = [
    "ENVIRONMENT_BASE",
    "INVALID_SPEC",
    "NOT_FOUND",
    "UNABLE",
    "environment_payload",
    "environment_routes",
]

ENVIRONMENT_BASE: Final = "/api/v1/environment"
"""Where Submarine's environment API lives."""
NOT_FOUND: Final = "Environment not found."
"""Message of an unknown environment name (as 0.8.0 words it)."""
INVALID_SPEC: Final = "Invalid environment spec."
"""Message of a body that is no environment spec (as 0.8.0 words a null one)."""
UNABLE: Final = "Unable to process the environment spec."
"""Message of a spec that cannot be stored (as 0.8.0 words it)."""


def environment_payload(record: EnvironmentRecord) -> dict[str, Any]:
    """The Environment answer of a stored environment: its id, and its spec with every
    field of 0.8.0's classes (nulls included)."""
    stored = record.spec
    spec = {name: stored.get(name) for name in ENVIRONMENT_FIELDS}
    kernel = spec["kernelSpec"]
    if isinstance(kernel, dict):
        spec["kernelSpec"] = {name: kernel.get(name) for name in KERNEL_FIELDS}
    return {"environmentId": record.environment_id, "environmentSpec": spec}


def _now() -> datetime:
    return datetime.now().astimezone()


class _Endpoint(ServiceEndpoint):
    """What the environment routes share: the store, and reading a spec."""

    @staticmethod
    async def _definition(request: Request, limit: int) -> EnvironmentDefinition:
        """The environment spec of the body, judged; a 400 naming every problem."""
        document = await read_document(request, limit, what="an environment spec")
        if document is None:
            raise ApiError(400, INVALID_SPEC)
        try:
            return EnvironmentDefinition.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(str(problem) for problem in problems_of(exc))
            raise ApiError(400, f"{INVALID_SPEC} {problems}") from None
        except RecursionError:
            raise ApiError(400, f"{INVALID_SPEC} It is nested too deeply.") from None

    def _named(self, request: Request) -> EnvironmentRecord:
        """The environment of the path's name, or the 404 of an unknown one."""
        found = self._services(request)["environments"].get(request.path_params["name"])
        if found is None:
            raise ApiError(404, NOT_FOUND)
        return found


class Environments(_Endpoint):
    """``/api/v1/environment``: list and create."""

    async def get(self, request: Request) -> Response:
        """Every environment (``?status=`` is ignored, as by 0.8.0: they have none)."""
        records = await run_in_threadpool(self._services(request)["environments"].list)
        return envelope(result=[environment_payload(record) for record in records])

    async def post(self, request: Request) -> Response:
        """Store a new environment under a new id."""
        services = self._services(request)
        definition = await self._definition(request, services["settings"].max_body_bytes)
        try:
            record = services["environments"].create(
                definition.name, definition.to_dict(), at=_now()
            )
        except EnvironmentExistsError:
            name = definition.name
            raise ApiError(
                400,
                f"{UNABLE} An environment named {name!r} exists already: replace it with "
                f"PATCH {ENVIRONMENT_BASE}/{name}, delete it first, or choose another name",
            ) from None
        return envelope(result=environment_payload(record))


class EnvironmentByName(_Endpoint):
    """``/api/v1/environment/{name}``: get, patch, delete."""

    async def get(self, request: Request) -> Response:
        """The environment."""
        return envelope(result=environment_payload(self._named(request)))

    async def patch(self, request: Request) -> Response:
        """Replace the environment's spec (its id stays)."""
        services = self._services(request)
        record = self._named(request)
        definition = await self._definition(request, services["settings"].max_body_bytes)
        if definition.name != record.name:
            raise ApiError(
                400,
                f"{UNABLE} name: {definition.name!r} is not the name of the environment "
                f"patched, {record.name!r}: an environment cannot be renamed (experiments "
                "find it by its name); create one under the new name instead",
            )
        updated = services["environments"].replace(record.name, definition.to_dict(), at=_now())
        if updated is None:  # deleted meanwhile
            raise ApiError(404, NOT_FOUND)
        return envelope(result=environment_payload(updated))

    async def delete(self, request: Request) -> Response:
        """Delete the environment; the answer is what it was. Experiments that name it and
        have not started yet fail when they would start."""
        deleted = self._services(request)["environments"].delete(self._named(request).name)
        if deleted is None:  # deleted meanwhile
            raise ApiError(404, NOT_FOUND)
        return envelope(result=environment_payload(deleted))


def environment_routes() -> list[Route]:
    """The routes of Submarine's environment API. Names are matched with the path converter
    so that any text after the base reaches the handler (and gets the 404 of an unknown
    name)."""
    return [
        route(ENVIRONMENT_BASE, Environments),
        route(f"{ENVIRONMENT_BASE}/{{name:path}}", EnvironmentByName),
    ]

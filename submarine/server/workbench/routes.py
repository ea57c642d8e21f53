"""The workbench: a web page to watch, compare and create experiments, and what it asks.

``GET /`` serves one hand-written page (HTML, CSS, JavaScript and an SVG icon from
``static/``; nothing is fetched from anywhere else). The page speaks only this server's API,
same-origin, with JSON (or YAML) bodies: the experiment, template and environment APIs, the
log-stream extension, the metric and param reads of :mod:`submarine.server.tracking.routes`,
and one endpoint of its own:

``POST /api/v1/experiment/validate`` with a spec (JSON or YAML) answers, without creating
anything, ``{"valid": bool, "problems": [{"path": "spec.Worker.resources", "loc": [...],
"message": "..."}]}``: the model's own rules, every problem with its wire path, then what
this server adds (its replica limit, the machine's capacity). The page shows each problem at
its field before it sends a create.

``GET /api/v1/resources`` answers what the machine has and what running experiments ask
for: ``{"capacity": {"cpus", "memoryBytes", "gpus"}, "used": {...}, "running": n,
"queued": n}`` (the page's resources strip).

The page and its files need no token (they hold no data); every API call they make does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from submarine.models import ExperimentSpec, problems_of
from submarine.server.api.rest import ApiEndpoint, ApiError, envelope, read_document
from submarine.server.api.wire import SpecError, read_spec

__all__ = ["PAGE_PATHS", "RESOURCES_PATH", "VALIDATE_PATH", "workbench_routes"]

STATIC: Final = Path(__file__).with_name("static")
"""Where the page's files are."""
_FILES: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/workbench.js": ("workbench.js", "text/javascript; charset=utf-8"),
    "/workbench-views.js": ("workbench-views.js", "text/javascript; charset=utf-8"),
    "/workbench-logs.js": ("workbench-logs.js", "text/javascript; charset=utf-8"),
    "/workbench-list.js": ("workbench-list.js", "text/javascript; charset=utf-8"),
    "/workbench-columns.js": ("workbench-columns.js", "text/javascript; charset=utf-8"),
    "/workbench-charts.js": ("workbench-charts.js", "text/javascript; charset=utf-8"),
    "/workbench-compare.js": ("workbench-compare.js", "text/javascript; charset=utf-8"),
    "/workbench-new.js": ("workbench-new.js", "text/javascript; charset=utf-8"),
    "/workbench-templates.js": ("workbench-templates.js", "text/javascript; charset=utf-8"),
    "/workbench-run.js": ("workbench-run.js", "text/javascript; charset=utf-8"),
    "/workbench-artifacts.js": ("workbench-artifacts.js", "text/javascript; charset=utf-8"),
    "/workbench-environments.js": ("workbench-environments.js", "text/javascript; charset=utf-8"),
    "/workbench.css": ("workbench.css", "text/css; charset=utf-8"),
    # The charting library, built from npm into static/vendor/ (frontend/vendor.py).
    "/vendor/uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "/vendor/uPlot.min.css": ("vendor/uPlot.min.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
PAGE_PATHS: Final = frozenset(_FILES)
"""The page's own paths (they need no token)."""
VALIDATE_PATH: Final = "/api/v1/experiment/validate"
"""Where a spec is checked without being created."""
RESOURCES_PATH: Final = "/api/v1/resources"
"""Where the machine's resources, those in use and the queue are read."""
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _problem(path: str, loc: list[Any], message: str) -> dict[str, Any]:
    return {"path": path, "loc": loc, "message": message}


def spec_problems(document: Any) -> list[dict[str, Any]]:
    """Every problem of a spec document, with its wire path (empty when it is valid)."""
    try:
        ExperimentSpec.model_validate(document)
    except ValidationError as exc:
        return [_problem(p.path, list(p.loc), p.message) for p in problems_of(exc)]
    except RecursionError:
        return [_problem("(spec)", [], "the experiment spec is nested too deeply")]
    try:
        read_spec(document)
    except SpecError as exc:
        path, _, message = str(exc).partition(": ")
        return [_problem(path, path.split("."), message or str(exc))]
    return []


class Validate(ApiEndpoint):
    """``POST /api/v1/experiment/validate``: a spec's problems, nothing created."""

    async def post(self, request: Request) -> Response:
        """The problems of the body's spec, each with its path."""
        state = request.scope.get("state") or {}
        if "settings" not in state or "runner" not in state:
            raise ApiError(503, "the server is starting or stopping: try again")
        document = await read_document(request, state["settings"].max_body_bytes)
        problems = spec_problems(document)
        if not problems:
            problem = state["runner"].capacity_problem(ExperimentSpec.model_validate(document))
            if problem is not None:
                message = f"the experiment can never run on this server: {problem}"
                problems.append(_problem("spec", ["spec"], message))
        return envelope(result={"valid": not problems, "problems": problems})


class Resources(ApiEndpoint):
    """``GET /api/v1/resources``: the machine's capacity, what is in use, the queue."""

    async def get(self, request: Request) -> Response:
        """Capacity and use (cpus as cores, memory in bytes, gpus), running and queued."""
        state = request.scope.get("state") or {}
        if "runner" not in state:
            raise ApiError(503, "the server is starting or stopping: try again")
        runner = state["runner"]
        capacity = runner.capacity
        used, running, queued = runner.usage()
        return envelope(
            result={
                "capacity": {
                    "cpus": capacity.cpu_millis / 1000,
                    "memoryBytes": capacity.memory_bytes,
                    "gpus": capacity.gpus,
                },
                "used": {
                    "cpus": used.cpu_millis / 1000,
                    "memoryBytes": used.memory_bytes,
                    "gpus": used.gpus,
                },
                "running": running,
                "queued": queued,
            }
        )


async def _page_file(request: Request) -> Response:
    name, media = _FILES[request.url.path]
    try:
        body = (STATIC / name).read_bytes()
    except FileNotFoundError:  # an editable checkout where the charts were never built
        message = f"{name} is not built: run `make` (or `python frontend/vendor.py`)\n"
        return Response(message, 404, media_type="text/plain", headers=_SECURITY_HEADERS)
    return Response(body, media_type=media, headers=_SECURITY_HEADERS)


def workbench_routes() -> list[Route]:
    """The page's routes and the validate endpoint (mount them before the experiment
    routes: ``/api/v1/experiment/{id}`` would take ``validate`` for an id)."""
    routes = [Route(path, _page_file, methods=["GET"]) for path in _FILES]
    routes.append(Route(VALIDATE_PATH, Validate, methods=["POST"]))
    routes.append(Route(RESOURCES_PATH, Resources, methods=["GET"]))
    return routes

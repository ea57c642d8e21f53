"""Submarine's experiment template API (``/api/v1/template``) and the submit of a template
(``POST /api/v1/experiment/{templateName}``), over the templates' store.

Answers are Submarine 0.8.0's: the envelope, ``{"experimentTemplateId": ...,
"experimentTemplateSpec": {...}}`` with an id (``{"id": n, "serverTimestamp": ms}``) only
in create and patch answers, the parameters made for every role (``spec.R.replicas``,
``spec.R.resourceMap.cpu|memory``), the spec with each role's ``resourceMap`` and written as
in an experiment answer, the dry run at create and patch with 0.8.0's messages
(``Parameters contains illegal key: [...]``, ``... unused key: [...]``, ``Template
contains unmapped value: [...]``, keys sorted) before the models judge the rest, and
``ExperimentTemplate not found.``. The mapping rules are
:mod:`submarine.models.templating`'s; a submitted template becomes an experiment through the
same validation and queue as any create (:mod:`.create`).

Differences from 0.8.0, all on purpose:

* A template the models refuse is a 400 that lists every problem with its path (0.8.0
  answers a bare 500 for a template without ``experimentSpec`` or its ``spec``).
* A submit without a body or without ``params`` is a 400 that says what to send (a bare
  500 on 0.8.0).
* ``PATCH /api/v1/template/{name}`` changes the template of the path; a body naming another
  template is a 400 naming both (0.8.0 updates the template the body names).
* On patch the made ``spec.R.*`` parameters are made again, not appended a second time.
* The name of an existing template is a 400 that names it (0.8.0 passes the database
  driver's message on).
* Git credentials of a template's ``code`` are kept for the experiments it makes but never
  answered (as for experiments); a patch that repeats the repository without them keeps them.
* A database that cannot be read or written is this server's 507, as for experiments.

Extensions (this server only): ``POST /api/v1/template/{name}/preview`` with ``{"params":
{...}}`` answers the experiment spec a submit would create (its errors too), creating
nothing; ping advertises it as ``template-preview``. ``POST /api/v1/template/validate``
answers ``{"valid": bool, "problems": [{"path", "loc", "message"}]}`` for a template, as
``POST /api/v1/experiment/validate`` does for a spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from submarine.models import problems_of
from submarine.models.template import ExperimentTemplateSpec, ExperimentTemplateSubmit
from submarine.models.templating import (
    Filling,
    defaults,
    fill,
    with_resource_map,
    with_resource_parameters,
)
from submarine.server.api.create import answer, create_experiment, runnable_spec
from submarine.server.api.rest import ApiError, envelope, read_document
from submarine.server.api.services import ServiceEndpoint, Services, route
from submarine.server.api.wire import (
    NAMESPACE,
    keep_credentials,
    spec_payload,
    stored_spec,
)
from submarine.server.examples import example_templates
from submarine.server.store.templates import DuplicateTemplateError

__all__ = [
    "NOT_FOUND",
    "PARAMETER_FIELDS",
    "TEMPLATE_BASE",
    "TEMPLATE_FIELDS",
    "stored_examples",
    "stored_template",
    "submit_template",
    "template_payload",
    "template_routes",
]

TEMPLATE_BASE: Final = "/api/v1/template"
"""Where Submarine's template API lives."""
NOT_FOUND: Final = "ExperimentTemplate not found."
"""Message of an unknown template (as 0.8.0 words it)."""
INVALID: Final = "Invalid experimentTemplate spec."
"""Message of a null template body (as 0.8.0 words it)."""
UNABLE: Final = "Unable to insert or update the experimentTemplate spec: "
"""Start of the message of a template that cannot be stored (as 0.8.0 words it)."""
TEMPLATE_FIELDS: Final = ("name", "author", "description", "parameters", "experimentSpec")
"""The fields of ExperimentTemplateSpec, in 0.8.0's order."""
PARAMETER_FIELDS: Final = ("name", "required", "description", "value")
"""The fields of ExperimentTemplateParamSpec, in 0.8.0's order."""
_SUBMIT_BODY: Final = (
    '{"params": {"<parameter>": "<value>", ...}} ({"params": {}} for the defaults)'
)


# -- answers ------------------------------------------------------------------------------


def template_payload(
    stored: Mapping[str, Any], template_id: int | None = None, *, server_timestamp: int = 0
) -> dict[str, Any]:
    """A stored template as 0.8.0 answers it: ``experimentTemplateId`` (given only for
    create and patch) and the spec with every field, nulls included, its experiment spec
    written as in an experiment answer."""
    spec = {name: stored.get(name) for name in TEMPLATE_FIELDS}
    spec["parameters"] = [
        {name: p.get(name) for name in PARAMETER_FIELDS}
        for p in stored.get("parameters") or []
        if isinstance(p, Mapping)
    ]
    spec["experimentSpec"] = spec_payload(stored.get("experimentSpec"))
    made_id = None
    if template_id is not None:
        made_id = {"id": template_id, "serverTimestamp": server_timestamp}
    return {"experimentTemplateId": made_id, "experimentTemplateSpec": spec}


def _java_set(keys: Iterable[str]) -> str:
    """Keys as Java's ``Set.toString()`` writes them (sorted here, for a stable answer)."""
    return "[" + ", ".join(sorted(keys)) + "]"


def _fill_error(filling: Filling) -> ApiError | None:
    """0.8.0's 400 of a mapping that did not fit, in its order; None when it fitted."""
    if filling.illegal:
        return ApiError(400, f"Parameters contains illegal key: {_java_set(filling.illegal)}")
    if filling.unused:
        return ApiError(400, f"Parameters contains unused key: {_java_set(filling.unused)}")
    if filling.unmapped:
        return ApiError(400, f"Template contains unmapped value: {_java_set(filling.unmapped)}")
    return None


# -- reading a template --------------------------------------------------------------------


def _without_nulls(value: Any) -> Any:
    """``value`` with null members left out, as 0.8.0 stores a template's spec."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _raw_parameters(document: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    raw = document.get("parameters")
    for alias in ("experimentTemplateParamSpec", "experiment_template_param_spec"):
        raw = document.get(alias) if raw is None else raw
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, Mapping) for p in raw):
        return None
    return raw


def _dry_run(document: Mapping[str, Any]) -> None:
    """0.8.0's dry run of a create or patch: the spec filled with each parameter's own value
    (the made ones included); its 400s come before the models judge the rest."""
    spec = document.get("experimentSpec", document.get("experiment_spec"))
    parameters = _raw_parameters(document)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("spec"), Mapping):
        return  # the models say what is missing
    if parameters is None or not all(isinstance(p.get("name"), str) for p in parameters):
        return
    stored = with_resource_parameters(parameters, spec)
    error = _fill_error(fill(spec, stored, defaults(stored)))
    if error is not None:
        raise error


def read_template(document: Any) -> ExperimentTemplateSpec:
    """The template of a create or patch body: 0.8.0's null and dry-run 400s, then every
    problem the models find, each with its path."""
    if document is None:
        raise ApiError(400, INVALID)
    if not isinstance(document, Mapping):
        raise ApiError(
            400,
            f"{INVALID} The body is a {type(document).__name__}: send a template object "
            '{"name": ..., "parameters": [...], "experimentSpec": {...}}',
        )
    _dry_run(document)
    try:
        return ExperimentTemplateSpec.model_validate(document)
    except ValidationError as exc:
        raise ApiError(400, "; ".join(str(p) for p in problems_of(exc))) from None
    except RecursionError:
        raise ApiError(400, "the template is nested too deeply") from None


def stored_template(template: ExperimentTemplateSpec) -> dict[str, Any]:
    """The template as the server stores it: every parameter's four fields (the made ones
    included) and the spec, without nulls, in the server's namespace, with each role's
    ``resourceMap``."""
    declared = [
        {
            "name": p.name,
            "required": p.required,
            "description": p.description,
            "value": p.value,
        }
        for p in template.parameters
    ]
    spec = with_resource_map(_without_nulls(template.experiment_spec))
    if isinstance(spec.get("meta"), dict):
        spec["meta"]["namespace"] = NAMESPACE
    return {
        "name": template.name,
        "author": template.author,
        "description": template.description,
        "parameters": with_resource_parameters(declared, spec),
        "experimentSpec": spec,
    }


def stored_examples() -> list[dict[str, Any]]:
    """The example templates (:mod:`submarine.server.examples`), as the server stores them."""
    return [
        stored_template(ExperimentTemplateSpec.model_validate(document))
        for document in example_templates()
    ]


# -- submitting ------------------------------------------------------------------------------


async def _submit_body(request: Request, services: Services) -> Mapping[str, Any]:
    """The object of a submit or preview body (0.8.0 fails on a null one before it looks
    the template up)."""
    document = await read_document(request, services["settings"].max_body_bytes, what=_SUBMIT_BODY)
    if document is None:
        raise ApiError(400, f"the request body is null: send {_SUBMIT_BODY}")
    if not isinstance(document, Mapping):
        raise ApiError(400, f"the request body is a {type(document).__name__}: send {_SUBMIT_BODY}")
    return document


def _submit_params(document: Mapping[str, Any]) -> dict[str, str | None]:
    """The ``params`` of a submit or preview body (values as text)."""
    try:
        submit = ExperimentTemplateSubmit.model_validate(document)
    except ValidationError as exc:
        raise ApiError(400, "; ".join(str(p) for p in problems_of(exc))) from None
    return submit.params


def _stored(services: Services, name: str) -> dict[str, Any]:
    stored = services["templates"].get(name)
    if stored is None:
        raise ApiError(404, NOT_FOUND)
    return stored


async def _filled(request: Request, services: Services, name: str) -> Any:
    """The experiment spec the template ``name`` gives with the body's params, judged as a
    create judges a spec."""
    document = await _submit_body(request, services)
    stored = _stored(services, name)
    params = _submit_params(document)
    filling = fill(stored.get("experimentSpec") or {}, stored.get("parameters") or [], params)
    error = _fill_error(filling)
    if error is not None:
        raise error
    return runnable_spec(filling.spec, services)


async def submit_template(request: Request, services: Services) -> Response:
    """``POST /api/v1/experiment/{templateName}``: the experiment the template gives with
    the body's params, created as any other (the path's name wins over the body's)."""
    spec = await _filled(request, services, request.path_params["id"])
    record = create_experiment(spec, services)
    return envelope(result=answer(record, services))


# -- routes ----------------------------------------------------------------------------------


class Templates(ServiceEndpoint):
    """``/api/v1/template``: list and create."""

    async def get(self, request: Request) -> Response:
        """Every template, in the order they were created (``?status=`` is ignored, as on
        0.8.0)."""
        stored = self._services(request)["templates"].list()
        return envelope(result=[template_payload(t) for t in stored])

    async def post(self, request: Request) -> Response:
        """Judge, store, answer with a new id."""
        services = self._services(request)
        document = await read_document(
            request, services["settings"].max_body_bytes, what="an experiment template"
        )
        stored = stored_template(read_template(document))
        templates = services["templates"]
        try:
            templates.insert(stored)
        except DuplicateTemplateError as exc:
            raise ApiError(
                400,
                f"{UNABLE}a template named {exc.name!r} already exists (template names are "
                "unique): patch it, delete it first, or choose another name",
            ) from None
        return envelope(
            result=template_payload(
                stored, templates.next_id(), server_timestamp=templates.server_timestamp
            )
        )


class Template(ServiceEndpoint):
    """``/api/v1/template/{name}``: get, patch, delete."""

    async def get(self, request: Request) -> Response:
        """The template (no id, as on 0.8.0)."""
        stored = _stored(self._services(request), request.path_params["name"])
        return envelope(result=template_payload(stored))

    async def patch(self, request: Request) -> Response:
        """Replace the template of the path (judged as on create); a new id."""
        services = self._services(request)
        name = request.path_params["name"]
        document = await read_document(
            request, services["settings"].max_body_bytes, what="an experiment template"
        )
        before = _stored(services, name)
        if isinstance(document, Mapping):
            given = document.get("name")
            if given is None:
                document = {**document, "name": name}
            elif given != name:
                raise ApiError(
                    400,
                    f"the body names the template {given!r} but the path {name!r}: a patch "
                    f"changes the template of its path; send name {name!r} (or none) in the "
                    "body",
                )
        stored = stored_template(read_template(document))
        # A patch that repeats the repository as answers show it keeps its credentials.
        keep_credentials(stored["experimentSpec"], before.get("experimentSpec") or {})
        templates = services["templates"]
        if not templates.replace(name, stored):  # deleted meanwhile
            raise ApiError(404, NOT_FOUND)
        return envelope(
            result=template_payload(
                stored, templates.next_id(), server_timestamp=templates.server_timestamp
            )
        )

    async def delete(self, request: Request) -> Response:
        """Forget the template; answer it (no id, as on 0.8.0)."""
        services = self._services(request)
        name = request.path_params["name"]
        stored = _stored(services, name)
        if not services["templates"].delete(name):
            raise ApiError(404, NOT_FOUND)
        return envelope(result=template_payload(stored))


class Preview(ServiceEndpoint):
    """``/api/v1/template/{name}/preview`` (extension): what a submit would create."""

    async def post(self, request: Request) -> Response:
        """The experiment spec the template gives with the body's params, as an experiment
        answer writes it (no id: nothing is created); the errors of a submit."""
        services = self._services(request)
        spec = await _filled(request, services, request.path_params["name"])
        wire = stored_spec(spec, "")
        wire["meta"]["experimentId"] = None
        return envelope(result=spec_payload(wire))


def _problem(path: str, loc: list[Any], message: str) -> dict[str, Any]:
    return {"path": path, "loc": loc, "message": message}


def template_problems_of(document: Any) -> list[dict[str, Any]]:
    """Every problem of a template document, with its wire path (empty when it is valid)."""
    try:
        ExperimentTemplateSpec.model_validate(document)
    except ValidationError as exc:
        return [_problem(p.path, list(p.loc), p.message) for p in problems_of(exc)]
    except RecursionError:
        return [_problem("(template)", [], "the template is nested too deeply")]
    return []


class Validate(ServiceEndpoint):
    """``POST /api/v1/template/validate`` (the page's): a template's problems, nothing
    created."""

    async def post(self, request: Request) -> Response:
        """The problems of the body's template, each with its path."""
        services = self._services(request)
        document = await read_document(
            request, services["settings"].max_body_bytes, what="an experiment template"
        )
        problems = template_problems_of(document)
        return envelope(result={"valid": not problems, "problems": problems})


def template_routes() -> list[Route]:
    """The routes of the template API (the submit route is the experiment API's
    ``POST /api/v1/experiment/{id}``)."""
    return [
        route(TEMPLATE_BASE, Templates),
        route(f"{TEMPLATE_BASE}/validate", Validate),
        route(f"{TEMPLATE_BASE}/{{name}}/preview", Preview),
        route(f"{TEMPLATE_BASE}/{{name}}", Template),
    ]

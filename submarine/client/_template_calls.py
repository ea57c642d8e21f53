"""The experiment template API as calls: what each template method sends, and how its
answer is read.

Submarine 0.8.0's routes: ``/api/v1/template`` (create, list), ``/api/v1/template/{name}``
(get, patch, delete) and ``POST /api/v1/experiment/{name}`` (submit); and the local
server's ``template-preview`` extension, ``POST /api/v1/template/{name}/preview``, which
answers the filled spec without creating anything. Templates and parameters are judged
before anything is sent (``TemplateValidationError``); names are quoted into the path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from submarine.client._decode import decode, describe, excerpt
from submarine.client._steps import Call
from submarine.client.errors import (
    InvalidResponseError,
    NotSupportedError,
    TemplateValidationError,
)
from submarine.models import (
    Experiment,
    ExperimentSpec,
    ExperimentSpecPayload,
    ExperimentTemplate,
    ExperimentTemplateSpec,
    ExperimentTemplateSpecPayload,
    ExperimentTemplateSubmit,
    Problem,
    problems_of,
)
from submarine.models.template import RESERVED_NAMES

if TYPE_CHECKING:
    from submarine.client._core import ClientCore

__all__ = [
    "TEMPLATE_PATH",
    "TEMPLATE_PREVIEW",
    "check_preview",
    "create_template_call",
    "delete_template_call",
    "get_template_call",
    "list_templates_call",
    "params_body",
    "patch_template_call",
    "preview_template_call",
    "submit_template_call",
    "template_body",
    "template_name",
]

TEMPLATE_PATH: Final = "/api/v1/template"
"""The template service, below the host."""
TEMPLATE_PREVIEW: Final = "template-preview"
"""The local server's extension that fills a template without submitting it."""


# -- what goes out ---------------------------------------------------------------------------


def template_name(name: str, *, submitted: bool = False) -> str:
    """The name, quoted for a URL path; a name no path can carry is a ``ValueError`` (and,
    for a submit, one of the experiment API's own routes)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"template name must be a non-empty string like 'tf-mnist', got {name!r}")
    if name in (".", ".."):
        raise ValueError(
            f"template name {name!r} cannot be sent: a URL path reads it as a step to the "
            "folder itself or its parent"
        )
    if submitted and name in RESERVED_NAMES:
        raise ValueError(
            f"template {name!r} cannot be submitted: POST /api/v1/experiment/{name} is the "
            "experiment API's own route"
        )
    return quote(name, safe="")


def _template(template: Any) -> ExperimentTemplateSpec:
    if isinstance(template, ExperimentTemplateSpec):
        return template
    if isinstance(template, ExperimentTemplate):
        template = template.experiment_template_spec
    if isinstance(template, (Mapping, ExperimentTemplateSpecPayload)):
        try:
            return ExperimentTemplateSpec.model_validate(template)
        except ValidationError as exc:
            raise TemplateValidationError(problems_of(exc)) from exc
    raise TypeError(
        "template must be an ExperimentTemplateSpec, a template read from a server or a dict, "
        f"got {type(template).__name__}"
    )


def template_body(template: Any, *, patched: str | None = None) -> bytes:
    """The JSON body of a template, judged first (``TemplateValidationError``); for a patch
    of ``patched``, the template must bear that name."""
    model = _template(template)
    if patched is not None and model.name != patched:
        problem = Problem(
            ("name",),
            f"is {model.name!r}, but the template patched is {patched!r}: a patch keeps the "
            "name (create the template under its new name, then delete the old one)",
            model.name,
        )
        raise TemplateValidationError([problem])
    return model.to_json().encode("utf-8")


def params_body(params: Any) -> bytes:
    """The JSON body of a submit or a preview: ``{"params": {...}}``, numbers and booleans
    as text (``TemplateValidationError`` for a value that is neither)."""
    if isinstance(params, ExperimentTemplateSubmit):
        submit = params
    elif params is None or isinstance(params, Mapping):
        try:
            submit = ExperimentTemplateSubmit.model_validate({"params": dict(params or {})})
        except ValidationError as exc:
            raise TemplateValidationError(problems_of(exc), subject="template parameters") from exc
    else:
        raise TypeError(
            "params must be a dict of values by parameter name, like {'learning_rate': 0.2}, "
            f"got {type(params).__name__}"
        )
    return json.dumps({"params": submit.params}, ensure_ascii=False).encode("utf-8")


# -- what comes back -------------------------------------------------------------------------


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _filled_spec(response: httpx.Response) -> ExperimentSpec:
    """The spec of a preview answer, as create_experiment takes it (the nulls a server
    writes for what is not set left out)."""
    payload = decode(ExperimentSpecPayload, response)
    try:
        return ExperimentSpec.model_validate(_without_nulls(payload.to_dict()))
    except ValidationError as exc:
        first = problems_of(exc)[0]
        raise InvalidResponseError(
            f"{describe(response)} answered a filled spec that is not valid ({first}): "
            f"{excerpt(response.content)!r}",
            status_code=response.status_code,
            body=response.content,
        ) from exc


def check_preview(core: ClientCore) -> None:
    """Raise ``NotSupportedError`` unless the server announced template previews."""
    if TEMPLATE_PREVIEW not in (core.extensions or ()):
        raise NotSupportedError(
            TEMPLATE_PREVIEW,
            f"the server at {core.shown_host} does not preview templates (its ping does not "
            f"announce the {TEMPLATE_PREVIEW!r} extension of the local server; Submarine 0.8.0 "
            "has none): submit_template creates the experiment, and "
            "ExperimentTemplateSpec.fill() fills a template here",
        )


# -- the calls -------------------------------------------------------------------------------


def _url(core: ClientCore, name: str) -> str:
    return f"{core.host}{TEMPLATE_PATH}/{template_name(name)}"


def create_template_call(core: ClientCore, template: Any) -> Call[ExperimentTemplate]:
    """Create a template (never retried once it may have arrived)."""
    body = template_body(template)
    read = partial(decode, ExperimentTemplate)
    return Call("POST", core.host + TEMPLATE_PATH, read, content=body, idempotent=False)


def get_template_call(core: ClientCore, name: str) -> Call[ExperimentTemplate]:
    """Get one template."""
    return Call("GET", _url(core, name), partial(decode, ExperimentTemplate))


def list_templates_call(core: ClientCore) -> Call[list[ExperimentTemplate]]:
    """List every template."""
    read: Any = partial(decode, list[ExperimentTemplate])
    return Call("GET", core.host + TEMPLATE_PATH, read)


def patch_template_call(core: ClientCore, name: str, template: Any) -> Call[ExperimentTemplate]:
    """Replace a template."""
    url = _url(core, name)
    body = template_body(template, patched=name)
    return Call("PATCH", url, partial(decode, ExperimentTemplate), content=body)


def delete_template_call(core: ClientCore, name: str) -> Call[ExperimentTemplate]:
    """Delete a template."""
    return Call("DELETE", _url(core, name), partial(decode, ExperimentTemplate))


def submit_template_call(core: ClientCore, name: str, params: Any) -> Call[Experiment]:
    """Create an experiment from a template (never retried once it may have arrived)."""
    url = f"{core.api}/{template_name(name, submitted=True)}"
    body = params_body(params)
    return Call("POST", url, partial(decode, Experiment), content=body, idempotent=False)


def preview_template_call(core: ClientCore, name: str, params: Any) -> Call[ExperimentSpec]:
    """Fill a template on the server, creating nothing."""
    url = f"{_url(core, name)}/preview"
    return Call("POST", url, _filled_spec, content=params_body(params))

"""JSON Schemas (draft 2020-12) of the spec, the experiment and the experiment template,
made from the models.

Editors read them for completion and validation of spec files; ``python -m
submarine.models schemas`` writes them to ``schemas/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from submarine.models._docs import describe_fields
from submarine.models.experiment import Experiment
from submarine.models.rules import ROLES, SINGLE_ROLES, Framework, any_case
from submarine.models.spec import ExperimentSpec
from submarine.models.template import NAME_MAX, RESERVED_NAMES, ExperimentTemplateSpec

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
SPEC_FILE: Final = "experiment-spec.schema.json"
EXPERIMENT_FILE: Final = "experiment.schema.json"
TEMPLATE_FILE: Final = "experiment-template.schema.json"

ROLE_NAMES: Final = tuple(dict.fromkeys(role for roles in ROLES.values() for role in roles))
"""Every role of any framework."""

EXAMPLE_SPEC: Final[dict[str, Any]] = {
    "meta": {
        "name": "tf-mnist-json",
        "namespace": "default",
        "framework": "TensorFlow",
        "cmd": "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log "
        "--learning_rate=0.01 --batch_size=150",
        "envVars": {"ENV_1": "ENV1"},
    },
    "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    "spec": {
        "Ps": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
        "Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
    },
}


def _has_role(role: str) -> dict[str, Any]:
    """The object has a key that is ``role`` in any case."""
    return {"not": {"propertyNames": {"not": {"pattern": f"^{any_case(role)}$"}}}}


def _when(framework: Framework, then: dict[str, Any]) -> dict[str, Any]:
    """``then`` applies to a spec of ``framework`` (named in any case)."""
    named = {"pattern": rf"^\s*{any_case(framework.value)}\s*$"}
    return {
        "if": {
            "properties": {"meta": {"properties": {"framework": named}, "required": ["framework"]}},
            "required": ["meta"],
        },
        "then": then,
    }


def _roles(rules: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {"spec": rules}}


def _framework_rules() -> list[dict[str, Any]]:
    """Roles of each framework, the roles of one replica, and the combinations the
    training operator or the server refuse."""
    one = {
        "properties": {
            "replicas": {
                "anyOf": [
                    {"type": "integer", "maximum": 1},
                    {"type": "string", "pattern": r"^\s*0*1\s*$"},
                ]
            }
        }
    }
    rules = []
    for framework in Framework:
        names = "|".join(any_case(role) for role in framework.roles)
        singles = {f"^{any_case(role)}$": one for role in SINGLE_ROLES[framework]}
        rules.append(
            _when(
                framework,
                _roles(
                    {"propertyNames": {"pattern": f"^(?:{names})$"}, "patternProperties": singles}
                ),
            )
        )
    rules.append(
        _when(
            Framework.TENSORFLOW,
            _roles({"not": {"allOf": [_has_role("Chief"), _has_role("Master")]}}),
        )
    )
    rules.append(_when(Framework.XGBOOST, _roles(_has_role("Master"))))
    rules.append(
        _when(
            Framework.TENSORFLOW,
            {
                "anyOf": [
                    {"properties": {"experimentHandlerSpec": {"type": "null"}}},
                    {"not": {"required": ["experimentHandlerSpec"]}},
                    _roles(_has_role("Ps")),
                ]
            },
        )
    )
    return rules


def _on_every_role_or(section: str, key: str) -> dict[str, Any]:
    """``section.key`` is a non-empty string, or ``key`` is one on every role."""
    given = {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}
    return {
        "anyOf": [
            {"required": [section], "properties": {section: given}},
            _roles({"additionalProperties": given}),
        ]
    }


def _tighten(schema: dict[str, Any]) -> None:
    """Add what the model checks and the field types cannot say: no unknown keys, the
    rules across fields, and a role given by its ``resourceMap`` alone."""
    defs = schema["$defs"]
    for definition in defs.values():
        definition["additionalProperties"] = False
    task = defs["ExperimentTaskSpec"]
    task.pop("required")
    task["anyOf"] = [
        {"required": ["resources"], "properties": {"resources": {"not": {"type": "null"}}}},
        {"required": ["resourceMap"], "properties": {"resourceMap": {"minProperties": 1}}},
    ]
    roles = "|".join(any_case(r) for r in ROLE_NAMES)
    schema["properties"]["spec"] |= {
        "minProperties": 1,
        "propertyNames": {"pattern": f"^(?:{roles})$"},
    }
    schema["allOf"] = [
        *_framework_rules(),
        _on_every_role_or("meta", "cmd"),
        _on_every_role_or("environment", "image"),
    ]
    schema["additionalProperties"] = False
    # Editors that read "$schema" comments also accept it as a key in JSON files.
    schema["properties"]["$schema"] = {"type": "string", "description": "Schema of this file."}


def _short_descriptions(schema: dict[str, Any]) -> None:
    """Keep the first paragraph of each class docstring; examples belong in the docs."""
    for definition in [schema, *schema.get("$defs", {}).values()]:
        text = definition.get("description")
        if isinstance(text, str):
            definition["description"] = text.split("\n\n")[0].replace("``", "'")


def spec_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment spec file (what ``create_experiment`` takes)."""
    schema = ExperimentSpec.model_json_schema(by_alias=True, mode="validation")
    describe_fields(schema, ExperimentSpec)
    _tighten(schema)
    _short_descriptions(schema)
    return {
        "$schema": DRAFT,
        "$id": f"https://submarine.apache.org/schemas/{SPEC_FILE}",
        **schema,
        "title": "Submarine experiment spec",
        "examples": [EXAMPLE_SPEC],
    }


def experiment_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment as a server reports it."""
    schema = Experiment.model_json_schema(by_alias=True, mode="serialization")
    describe_fields(schema, Experiment)
    _short_descriptions(schema)
    example = {
        "experimentId": "experiment-1647192232698-0001",
        "uid": "3513233e-33f2-4399-8fba-2a44ca2af730",
        "status": "Running",
        "acceptedTime": "2023-05-23T09:01:12Z",
        "createdTime": "2023-05-23T09:01:12Z",
        "runningTime": "2023-05-23T09:01:15Z",
        "finishedTime": None,
        "spec": EXAMPLE_SPEC,
    }
    return {
        "$schema": DRAFT,
        "$id": f"https://submarine.apache.org/schemas/{EXPERIMENT_FILE}",
        **schema,
        "title": "Submarine experiment",
        "examples": [example],
    }


EXAMPLE_TEMPLATE: Final[dict[str, Any]] = {
    "name": "tf-mnist-template",
    "author": "submarine-sdk",
    "description": "TensorFlow MNIST with summaries, learning rate and batch size as parameters.",
    "parameters": [
        {"name": "learning_rate", "required": "false", "description": "The learning rate.",
         "value": "0.1"},
        {"name": "batch_size", "required": "false", "description": "Examples in each batch.",
         "value": "150"},
        {"name": "experiment_name", "required": "true", "description": "The run's name."},
    ],
    "experimentSpec": {
        **EXAMPLE_SPEC,
        "meta": {
            **EXAMPLE_SPEC["meta"],
            "name": "{{experiment_name}}",
            "cmd": "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log "
            "--learning_rate={{learning_rate}} --batch_size={{batch_size}}",
        },
    },
}  # fmt: skip

_PLACEHOLDER_TEXT: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": r"\{\{.*?\}\}",
    "description": "Text with {{placeholders}}, filled from the template's parameters.",
}
_PARAMETER_TEXT: Final[dict[str, Any]] = {"type": ["string", "number", "boolean", "null"]}
_PARAMETER_ALIASES: Final = ("experimentTemplateParamSpec", "experiment_template_param_spec")


_NOT_TEXT: Final = ("propertyNames", "replicas")
"""Where a spec's schema keeps its patterns: keys, and the replica count (a number, which
only its path parameterises)."""


def _with_placeholders(node: Any) -> Any:
    """A spec schema's node where each string with a pattern may also be text with
    placeholders (but for keys and the replica count)."""
    if isinstance(node, list):
        return [_with_placeholders(item) for item in node]
    if not isinstance(node, dict):
        return node
    walked = {
        key: value if key in _NOT_TEXT else _with_placeholders(value) for key, value in node.items()
    }
    if "pattern" in walked:
        return {"anyOf": [walked, _PLACEHOLDER_TEXT]}
    return walked


def template_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment template file (what ``create_template`` takes).

    The experiment spec is the spec's schema, with text of placeholders allowed where a
    string has a pattern; what only a whole template can say (each placeholder has a
    parameter, each parameter is used) is the model's to judge.
    """
    schema = ExperimentTemplateSpec.model_json_schema(by_alias=True, mode="validation")
    describe_fields(schema, ExperimentTemplateSpec)
    defs = schema["$defs"]
    parameter = defs["ExperimentTemplateParamSpec"]
    parameter["additionalProperties"] = False
    parameter["properties"]["name"] |= {"minLength": 1}
    for key in ("required", "value"):
        # Numbers and booleans are read as their text, as 0.8.0 reads them.
        parameter["properties"][key].pop("anyOf")
        parameter["properties"][key] |= _PARAMETER_TEXT
    properties = schema["properties"]
    properties["name"] |= {
        "minLength": 1,
        "maxLength": NAME_MAX,
        "pattern": r"^(?=.*\S)[^/\\?#%\x00-\x1f\x7f]*$",
        "not": {"enum": sorted({*RESERVED_NAMES, ".", ".."})},
    }
    for alias in _PARAMETER_ALIASES:
        properties[alias] = {
            **properties["parameters"],
            "description": "0.8.0's second name of 'parameters'.",
        }
    spec = spec_schema()
    defs.update(_with_placeholders(spec.pop("$defs")))
    spec["properties"].pop("$schema")
    described = properties["experimentSpec"].get("description")
    # The rules across fields (the roles of each framework) stay as they are: a framework
    # given by a placeholder meets none of their conditions.
    run = {k: v for k, v in spec.items() if k not in ("$schema", "$id", "title", "examples")}
    run["properties"] = _with_placeholders(run["properties"])
    # A null is left out of a template's spec, as 0.8.0 stores it: a role's replicas, 1.
    replicas = defs["ExperimentTaskSpec"]["properties"]["replicas"]
    replicas["anyOf"] = [*replicas["anyOf"], {"type": "null"}]
    properties["experimentSpec"] = {**run, "description": described}
    properties["$schema"] = {"type": "string", "description": "Schema of this file."}
    schema["additionalProperties"] = False
    schema["allOf"] = [{"not": {"required": ["parameters", alias]}} for alias in _PARAMETER_ALIASES]
    _short_descriptions(schema)
    for definition in (schema, parameter):
        for prop in definition["properties"].values():
            if isinstance(prop.get("description"), str):
                prop["description"] = prop["description"].replace("``", "'")
    return {
        "$schema": DRAFT,
        "$id": f"https://submarine.apache.org/schemas/{TEMPLATE_FILE}",
        **schema,
        "title": "Submarine experiment template",
        "examples": [EXAMPLE_TEMPLATE],
    }


def render(schema: dict[str, Any]) -> str:
    """A schema as the committed file holds it."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    """Write the schemas into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in (
        (SPEC_FILE, spec_schema()),
        (EXPERIMENT_FILE, experiment_schema()),
        (TEMPLATE_FILE, template_schema()),
    ):
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written

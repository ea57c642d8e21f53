"""JSON Schemas (draft 2020-12) of the spec and of the experiment, made from the models.

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

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
SPEC_FILE: Final = "experiment-spec.schema.json"
EXPERIMENT_FILE: Final = "experiment.schema.json"

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


def render(schema: dict[str, Any]) -> str:
    """A schema as the committed file holds it."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    """Write both schemas into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in ((SPEC_FILE, spec_schema()), (EXPERIMENT_FILE, experiment_schema())):
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written

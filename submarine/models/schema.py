"""JSON Schemas (draft 2020-12) of the spec and of the experiment, made from the models.

Editors read them for completion and validation of spec files; ``python -m
submarine.models schemas`` writes them to ``schemas/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from submarine.models.experiment import Experiment
from submarine.models.spec import ExperimentSpec, Framework

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
SPEC_FILE: Final = "experiment-spec.schema.json"
EXPERIMENT_FILE: Final = "experiment.schema.json"

_CPU = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+|[0-9]+m)"
_ITEM = rf"\s*(?:cpu\s*=\s*{_CPU}|memory\s*=\s*[0-9]+[EPTGMK]|nvidia\.com/gpu\s*=\s*[0-9]+)\s*"
RESOURCES_PATTERN: Final = rf"^{_ITEM}(?:,{_ITEM})*$"

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


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _tighten(schema: dict[str, Any]) -> None:
    """Add the rules the validators enforce that pydantic cannot see in the types."""
    defs = schema["$defs"]
    for definition in defs.values():
        definition["additionalProperties"] = False
    task = defs["ExperimentTaskSpec"]["properties"]
    task["replicas"] = {**task["replicas"], "type": "integer", "minimum": 1}
    task["resources"] = {
        "anyOf": [{"type": "string", "pattern": RESOURCES_PATTERN}, {"type": "null"}],
        "description": task["resources"].get("description", ""),
        "examples": ["cpu=1,memory=1024M", "cpu=500m,memory=2G,nvidia.com/gpu=1"],
    }
    meta = defs["ExperimentMeta"]["properties"]
    names = "|".join(_any_case(f.value) for f in Framework)
    meta["framework"] = {
        **meta["framework"],
        "pattern": f"^(?:{names})$",
        "examples": [f.value for f in Framework],
    }
    meta["name"] = {
        **meta["name"],
        "maxLength": 63,
        "pattern": r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
    }
    env_names = {"pattern": r"^[A-Za-z_][A-Za-z0-9_.-]*$"}
    for holder in (meta, task):
        holder["envVars"]["anyOf"][0]["propertyNames"] = env_names
    schema["properties"]["spec"]["minProperties"] = 1
    schema["properties"]["spec"]["propertyNames"] = {
        "pattern": "^(?:"
        + "|".join(_any_case(r) for r in ("Ps", "Worker", "Chief", "Master", "Evaluator"))
        + ")$"
    }
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
    _short_descriptions(schema)
    example = {
        "experimentId": "experiment-1647192232698-0001",
        "uid": "3513233e-33f2-4399-8fba-2a44ca2af730",
        "status": "Running",
        "acceptedTime": "2022-03-14T16:03:10.000+08:00",
        "createdTime": "2022-03-14T16:03:11.000+08:00",
        "runningTime": "2022-03-14T16:03:15.000+08:00",
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

"""The committed JSON Schemas are what the models generate, and they judge specs right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from submarine.models.schema import (
    EXPERIMENT_FILE,
    SPEC_FILE,
    TEMPLATE_FILE,
    experiment_schema,
    render,
    spec_schema,
    template_schema,
)

from .fixtures import VALID_SPECS, spec
from .test_experiment import PAYLOADS
from .validation_table import ROWS, Row

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize(
    ("name", "build"),
    [
        (SPEC_FILE, spec_schema),
        (EXPERIMENT_FILE, experiment_schema),
        (TEMPLATE_FILE, template_schema),
    ],
)
def test_committed_schema_is_current(name: str, build: Any) -> None:
    committed = (SCHEMAS / name).read_text(encoding="utf-8")
    assert committed == render(build()), "run `make schemas` and commit the result"


@pytest.mark.slow
def test_regeneration_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "submarine.models", "schemas", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert SPEC_FILE in out.stdout
    assert TEMPLATE_FILE in out.stdout
    assert (tmp_path / SPEC_FILE).read_text() == render(spec_schema())
    assert (tmp_path / TEMPLATE_FILE).read_text() == render(template_schema())


def test_schemas_are_draft_2020_12_with_examples() -> None:
    for schema in (spec_schema(), experiment_schema(), template_schema()):
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["examples"]
        assert schema["$defs"]


@pytest.mark.parametrize("name", sorted(VALID_SPECS))
def test_spec_schema_accepts_valid_specs(name: str) -> None:
    jsonschema.validate(VALID_SPECS[name], spec_schema())


@pytest.mark.parametrize(
    "bad",
    [
        spec(spec__Worker={"replica": 1}),
        spec(spec__Worker={"replicas": 0, "resources": "cpu=1"}),
        spec(spec__Worker={"replicas": "0", "resources": "cpu=1"}),
        spec(spec__Worker={"replicas": "2147483648", "resources": "cpu=1"}),
        spec(spec__Worker={"replicas": 1, "resources": "gpu=1"}),
        spec(spec__Worker={"replicas": 1, "resources": "memory=1.5G"}),
        spec(meta__framework="Caffe"),
        spec(meta__name="-x"),
        spec(spec={"Driver": {"replicas": 1, "resources": "cpu=1"}}),
        spec(meta__framework="PyTorch"),
        spec(meta__cmd=None),
        spec(meta__envVars={"1A": "x"}),
        spec(code={"syncMode": "hdfs", "git": {"url": "https://g/r.git"}}),
        spec(code={"syncMode": "git"}),
    ],
)
def test_spec_schema_refuses_what_the_models_refuse(bad: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, spec_schema())


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_experiment_schema_accepts_payloads(name: str) -> None:
    jsonschema.validate(json.loads(json.dumps(PAYLOADS[name])), experiment_schema())


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_spec_schema_judges_every_row_of_the_table_as_the_model_does(row: Row) -> None:
    validator = jsonschema.Draft202012Validator(spec_schema())
    assert validator.is_valid(row.given) == row.accepted


def test_field_docstrings_are_the_descriptions_read_only_for_schemas():
    from submarine.models import Experiment, ExperimentTaskSpec
    from submarine.models._docs import field_docstrings

    docs = field_docstrings(ExperimentTaskSpec)
    assert docs["replicas"].startswith("Number of replicas")
    task = spec_schema()["$defs"]["ExperimentTaskSpec"]["properties"]
    assert task["replicas"]["description"] == docs["replicas"]
    assert task["envVars"]["description"] == docs["env_vars"]
    status = experiment_schema()["properties"]["status"]
    assert status["description"] == field_docstrings(Experiment)["status"]
    # Importing the models does not read their source: pydantic holds no description.
    assert ExperimentTaskSpec.model_fields["replicas"].description is None


# -- the template schema ---------------------------------------------------------------------


def _template(**changes: Any) -> dict[str, Any]:
    from .test_template import TEMPLATE

    data = json.loads(json.dumps(TEMPLATE))
    data.update(changes)
    return data


def _template_with(change: Any) -> dict[str, Any]:
    data = _template()
    change(data)
    return data


TEMPLATES_THE_MODEL_ACCEPTS: dict[str, Any] = {
    "0.8.0's example": _template(),
    "no parameters": _template(
        parameters=[],
        experimentSpec={**spec(), "meta": {**spec()["meta"], "name": "plain"}},
    ),
    "0.8.0's second name": _template_with(
        lambda d: d.update(experimentTemplateParamSpec=d.pop("parameters"))
    ),
    "placeholders in resources": _template_with(
        lambda d: (
            d["experimentSpec"]["spec"]["Worker"].update(resources="cpu={{cpu}},memory=1G"),
            d["parameters"].append({"name": "cpu", "value": 2}),
        )
    ),
    "a framework of a parameter": _template_with(
        lambda d: (
            d["experimentSpec"]["meta"].update(framework="{{fw}}"),
            d["parameters"].append({"name": "fw", "value": "PyTorch"}),
            d["experimentSpec"].update(spec={"Master": {"replicas": 1, "resources": "cpu=1"}}),
        )
    ),
    "env vars named like number fields": _template_with(
        lambda d: d["experimentSpec"]["meta"].update(envVars={"replicas": "{{batch_size}}"})
    ),
    "32 characters": _template(name="t" * 32),
}


def test_the_example_template_is_the_schema_example() -> None:
    import yaml

    from submarine.models import ExperimentTemplateSpec

    schema = template_schema()
    example = Path(__file__).resolve().parents[2] / "examples" / "tf-mnist-template.yaml"
    jsonschema.validate(yaml.safe_load(example.read_text()), schema)
    for document in schema["examples"]:
        jsonschema.validate(document, schema)
        ExperimentTemplateSpec.model_validate(document)


@pytest.mark.parametrize("name", sorted(TEMPLATES_THE_MODEL_ACCEPTS))
def test_template_schema_accepts_what_the_model_accepts(name: str) -> None:
    from submarine.models import ExperimentTemplateSpec

    document = TEMPLATES_THE_MODEL_ACCEPTS[name]
    ExperimentTemplateSpec.model_validate(document)
    jsonschema.validate(document, template_schema())


def test_template_schema_accepts_a_template_read_back_from_0_8_0() -> None:
    answer = json.loads((Path(__file__).parent / "template_answer_080.json").read_text())
    jsonschema.validate(answer["experimentTemplateSpec"], template_schema())


@pytest.mark.parametrize(
    "bad",
    [
        _template(name="validate"),
        _template(name=".."),
        _template(name="a/b"),
        _template(name="t" * 33),
        _template(name="  "),
        _template(parameter=[]),
        _template(experimentTemplateParamSpec=[]),  # with "parameters" too
        _template(parameters=[{"value": "1"}]),
        _template(parameters=[{"name": "x", "value": [1]}]),
        _template_with(lambda d: d["experimentSpec"]["spec"]["Worker"].update(replicas="{{n}}")),
        _template_with(lambda d: d["experimentSpec"]["meta"]["envVars"].update({"{{k}}": "v"})),
        _template_with(lambda d: d["experimentSpec"]["spec"]["Worker"].update(resources="gpu=1")),
        _template_with(
            lambda d: d["experimentSpec"].update(spec={"Driver": {"resources": "cpu=1"}})
        ),
        _template_with(lambda d: d.pop("experimentSpec")),
    ],
)
def test_template_schema_refuses_what_the_models_refuse(bad: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from submarine.models import ExperimentTemplateSpec

    with pytest.raises(ValidationError):
        ExperimentTemplateSpec.model_validate(bad)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, template_schema())

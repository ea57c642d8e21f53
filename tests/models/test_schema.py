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
    experiment_schema,
    render,
    spec_schema,
)

from .fixtures import VALID_SPECS, spec
from .test_experiment import PAYLOADS
from .validation_table import ROWS, Row

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize(
    ("name", "build"), [(SPEC_FILE, spec_schema), (EXPERIMENT_FILE, experiment_schema)]
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
    assert (tmp_path / SPEC_FILE).read_text() == render(spec_schema())


def test_schemas_are_draft_2020_12_with_examples() -> None:
    for schema in (spec_schema(), experiment_schema()):
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

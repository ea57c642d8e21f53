"""Strict validation of experiment specs: one test per rule, messages with path and value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from submarine.models import (
    CodeSpec,
    EnvironmentSpec,
    ExperimentMeta,
    ExperimentSpec,
    ExperimentTaskSpec,
    Framework,
    ReplicaSpec,
    Resources,
    SpecFileError,
    problems_of,
)

from .fixtures import SEED_SPEC, VALID_SPECS, spec


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        ExperimentSpec.model_validate(data)
    return {p.path: p.message for p in problems_of(info.value)}


@pytest.mark.parametrize("name", sorted(VALID_SPECS))
def test_valid_specs_validate(name: str) -> None:
    model = ExperimentSpec.model_validate(VALID_SPECS[name])
    assert model.spec
    assert model.framework in set(Framework)


def test_seed_spec_round_trips_exactly() -> None:
    model = ExperimentSpec.model_validate(SEED_SPEC)
    assert model.to_dict() == SEED_SPEC
    assert json.loads(model.to_json()) == SEED_SPEC
    assert model.spec["Ps"].resource_map == {"cpu": "1", "memory": "1024M"}


def test_kwargs_and_dicts_build_the_same_spec() -> None:
    built = ExperimentSpec(
        meta=ExperimentMeta(name="tf-mnist-json", framework="TensorFlow", cmd="python x.py"),
        environment=EnvironmentSpec(image="img"),
        spec={"Worker": ReplicaSpec(replicas=2, resources=Resources.of(cpu=1, memory="1G"))},
    )
    from_dict = ExperimentSpec.model_validate(
        {
            "meta": {"name": "tf-mnist-json", "framework": "TensorFlow", "cmd": "python x.py"},
            "environment": {"image": "img"},
            "spec": {"Worker": {"replicas": 2, "resources": "cpu=1,memory=1G"}},
        }
    )
    assert built.to_dict() == from_dict.to_dict()
    assert ReplicaSpec is ExperimentTaskSpec


def test_snake_case_and_camel_case_are_both_accepted() -> None:
    camel = ExperimentMeta.model_validate(
        {"name": "a", "framework": "PyTorch", "envVars": {"A": "1"}, "experimentId": "x"}
    )
    snake = ExperimentMeta.model_validate(
        {"name": "a", "framework": "PyTorch", "env_vars": {"A": "1"}, "experiment_id": "x"}
    )
    assert camel == snake
    assert snake.to_dict()["envVars"] == {"A": "1"}
    assert "env_vars" not in snake.to_dict()


def test_dict_style_reads_by_wire_name() -> None:
    model = ExperimentSpec.model_validate(SEED_SPEC)
    assert model["meta"]["envVars"] == {"ENV_1": "ENV1"}
    assert model["spec"]["Worker"]["resources"] == "cpu=1,memory=1024M"
    assert model.get("code") is None
    assert "meta" in model
    assert "code" not in model
    with pytest.raises(KeyError):
        model["nope"]


# -- resources --------------------------------------------------------------


def test_resources_are_checked_with_path_and_value() -> None:
    found = problems(spec(spec__Worker={"replicas": 1, "resources": "gpu=1"}))
    assert "write nvidia.com/gpu=1 instead" in found["spec.Worker.resources"]
    found = problems(spec(spec__Ps={"replicas": 1, "resources": "cpu=1,memory=1.5G"}))
    assert "memory='1.5G'" in found["spec.Ps.resources"]


def test_resources_accept_a_mapping_or_typed_object() -> None:
    data = spec(spec__Worker={"replicas": 1, "resources": {"cpu": 2, "memory": "1G"}})
    model = ExperimentSpec.model_validate(data)
    assert model.spec["Worker"].resources == "cpu=2,memory=1G"
    assert model.spec["Worker"].resource_map == {"cpu": "2", "memory": "1G"}
    typed = ExperimentTaskSpec(resources=Resources.parse("memory=2G,cpu=1"))  # type: ignore[arg-type]
    assert typed.resources == "memory=2G,cpu=1"
    assert typed.parsed_resources.memory_bytes == 2 * 1024**3


def test_resource_map_alone_becomes_resources() -> None:
    task = ExperimentTaskSpec.model_validate({"resourceMap": {"cpu": "1", "memory": "1024M"}})
    assert task.resources == "cpu=1,memory=1024M"


def test_resources_of_a_wrong_type_are_refused() -> None:
    found = problems(spec(spec__Worker={"replicas": 1, "resources": 5}))
    assert "got 5" in found["spec.Worker.resources"]


# -- framework and roles ----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("Tensorflow", "TensorFlow"), ("PYTORCH", "PyTorch"), ("xgboost", "XGBoost")],
)
def test_framework_is_case_insensitive_and_canonicalised(given: str, canonical: str) -> None:
    roles = {"TensorFlow": "Worker", "PyTorch": "Master", "XGBoost": "Master"}
    data = spec(
        meta__framework=given, spec={roles[canonical]: {"replicas": 1, "resources": "cpu=1"}}
    )
    model = ExperimentSpec.model_validate(data)
    assert model.meta.framework == canonical
    assert model.to_dict()["meta"]["framework"] == canonical


def test_unknown_framework_lists_the_choices() -> None:
    found = problems(spec(meta__framework="Caffe"))
    assert found["meta.framework"] == (
        "unsupported framework 'Caffe': choose one of TensorFlow, PyTorch, XGBoost"
    )


def test_roles_are_canonicalised() -> None:
    data = spec(
        spec={
            "ps": {"replicas": 1, "resources": "cpu=1"},
            "WORKER": {"replicas": 2, "resources": "cpu=1"},
        }
    )
    model = ExperimentSpec.model_validate(data)
    assert list(model.spec) == ["Ps", "Worker"]
    assert model.to_dict()["spec"]["Worker"]["replicas"] == 2


def test_a_role_of_another_framework_is_refused() -> None:
    found = problems(spec(meta__framework="PyTorch", spec={"Ps": {"resources": "cpu=1"}}))
    assert found["spec.Ps"] == "'Ps' is not a role of PyTorch: its roles are Master, Worker"


def test_a_role_given_twice_is_refused() -> None:
    found = problems(
        spec(spec={"Worker": {"resources": "cpu=1"}, "worker": {"resources": "cpu=1"}})
    )
    assert (
        "role Worker is given twice ('Worker' and 'worker'): give it once" in found["spec.worker"]
    )


def test_at_least_one_role() -> None:
    assert "at least one" in problems(spec(spec={}))["spec"]


@pytest.mark.parametrize("framework", ["PyTorch", "XGBoost"])
def test_master_has_exactly_one_replica(framework: str) -> None:
    found = problems(
        spec(meta__framework=framework, spec={"Master": {"replicas": 2, "resources": "cpu=1"}})
    )
    assert found["spec.Master.replicas"] == (
        f"{framework} Master must have exactly 1 replica, got 2"
    )


@pytest.mark.parametrize("role", ["Chief", "Master", "Evaluator"])
def test_tensorflow_single_roles_have_at_most_one(role: str) -> None:
    found = problems(
        spec(spec={role: {"replicas": 3, "resources": "cpu=1"}, "Worker": {"resources": "cpu=1"}})
    )
    assert found[f"spec.{role}.replicas"] == (
        f"TensorFlow {role} must have at most 1 replica, got 3"
    )


# -- replicas, names, cmd, image, env vars ------------------------------------


@pytest.mark.parametrize("value", ["2.5", 2.5, 0, -1, True, None])
def test_replicas_must_be_a_whole_number_of_at_least_one(value: Any) -> None:
    found = problems(spec(spec__Worker={"replicas": value, "resources": "cpu=1"}))
    assert found["spec.Worker.replicas"].startswith(
        f"replicas must be a whole number of at least 1, like 2, got {value!r}"
    )


def test_replicas_default_to_one() -> None:
    assert ExperimentTaskSpec(resources="cpu=1").replicas == 1


@pytest.mark.parametrize(
    "name", ["-lead", "trail-", "has space", "a/b", "x" * 64, "ünïcode", "", "name!", "line\n"]
)
def test_bad_names_are_refused(name: str) -> None:
    found = problems(spec(meta__name=name))
    assert "meta.name" in found
    assert ("63" in found["meta.name"]) or (repr(name) in found["meta.name"])


@pytest.mark.parametrize("name", ["a", "A.b_c-9", "x" * 63, "tf-mnist-json"])
def test_good_names_are_accepted(name: str) -> None:
    assert ExperimentSpec.model_validate(spec(meta__name=name)).meta.name == name


def test_name_is_required() -> None:
    assert problems(spec(meta__name=None))["meta.name"] == (
        "is required: the experiment's name, like 'mnist'"
    )


def test_cmd_is_required_unless_every_role_has_one() -> None:
    found = problems(
        spec(meta__cmd=None, spec__Worker={"resources": "cpu=1", "cmd": "python w.py"})
    )
    assert found["meta.cmd"] == "no command: set meta.cmd, or a cmd on every role (missing on Ps)"
    every_role = spec(
        meta__cmd=None,
        spec={
            "Ps": {"resources": "cpu=1", "cmd": "a"},
            "Worker": {"resources": "cpu=1", "cmd": "b"},
        },
    )
    assert ExperimentSpec.model_validate(every_role).meta.cmd is None


def test_an_image_is_required() -> None:
    found = problems(spec(environment={}))
    assert found["environment.image"] == (
        "no image: set environment.image, or an image on every role (missing on Ps, Worker)"
    )
    found = problems(spec(environment={"name": "predefined"}))
    assert "only 'image' gives the containers one" in found["environment.image"]
    per_role = spec(
        environment={},
        spec={
            "Ps": {"resources": "cpu=1", "image": "a"},
            "Worker": {"resources": "cpu=1", "image": "b"},
        },
    )
    assert ExperimentSpec.model_validate(per_role).spec["Ps"].image == "a"


def test_env_var_names_and_values() -> None:
    found = problems(spec(meta__envVars={"1BAD": "x", "OK": [3], "NL\n": "x"}))
    assert "'NL\\n' is not an environment variable name" in found["meta.envVars"]
    assert "'1BAD' is not an environment variable name" in found["meta.envVars"]
    assert "the value of 'OK' is [3]: give a string" in found["meta.envVars"]
    found = problems(spec(spec__Worker={"resources": "cpu=1", "envVars": {"A B": "x"}}))
    assert "'A B'" in found["spec.Worker.envVars"]


# -- unknown keys and reporting everything at once ----------------------------


@pytest.mark.parametrize(
    ("data", "path", "suggestion"),
    [
        (
            spec(spec__Worker={"replica": 1, "resources": "cpu=1"}),
            "spec.Worker.replica",
            "did you mean 'replicas'?",
        ),
        (spec(meta__frameWork="TensorFlow"), "meta.frameWork", "did you mean 'framework'?"),
        (spec(meta__env_var={"A": "b"}), "meta.env_var", "did you mean 'envVars'?"),
        (spec(enviroment={"image": "x"}), "enviroment", "did you mean 'environment'?"),
        (spec(zzz=1), "zzz", "valid keys are code, environment, experimentHandlerSpec"),
    ],
)
def test_unknown_keys_suggest_the_closest_field(data: Any, path: str, suggestion: str) -> None:
    found = problems(data)
    assert suggestion in found[path]


def test_every_problem_is_reported_together() -> None:
    data = {
        "meta": {"name": "-bad", "framework": "pytorch"},
        "environment": {},
        "spec": {
            "master": {"replicas": 2, "resources": "cpu=500m,memory=1024Mi"},
            "worker": {"replicas": 2.5, "replica": 1},
        },
    }
    found = problems(data)
    assert set(found) == {
        "meta.name",
        "meta.cmd",
        "environment.image",
        "spec.master.replicas",
        "spec.master.resources",
        "spec.worker.replicas",
        "spec.worker.replica",
        "spec.worker.resources",
    }


def test_missing_top_level_sections() -> None:
    found = problems({"meta": {"name": "a", "framework": "TensorFlow", "cmd": "x"}})
    assert set(found) == {"environment", "spec"}
    assert found["environment"] == (
        "is required: where replicas run, like {'image': 'python:3.11'}"
    )
    assert found["spec"].startswith("is required: the roles, like {'Worker'")


def test_wrong_types_name_the_value() -> None:
    found = problems(spec(meta__tags="not-a-list"))
    assert "got 'not-a-list'" in found["meta.tags"]


# -- code ---------------------------------------------------------------------


def test_code_sync_modes() -> None:
    assert CodeSpec(sync_mode="GIT", git={"url": "file:///r"}).sync_mode == "git"  # type: ignore[arg-type]
    found = problems(spec(code={"syncMode": "hdfs"}))
    assert "use 'git'" in found["code.syncMode"]
    found = problems(spec(code={"syncMode": "git"}))
    assert "Submarine syncs code only from git" in found["code.git"]


def test_git_branch_defaults_to_main() -> None:
    data = spec(code={"syncMode": "git", "git": {"url": "https://g/r.git"}})
    model = ExperimentSpec.model_validate(data)
    assert model.code is not None
    assert model.code.git.branch == "main"
    assert model.to_dict()["code"] == {"syncMode": "git", "git": {"url": "https://g/r.git"}}


# -- files ----------------------------------------------------------------------


def test_from_file_reads_json_and_yaml(tmp_path: Path) -> None:
    import yaml

    json_file = tmp_path / "spec.json"
    json_file.write_text(json.dumps(SEED_SPEC))
    yaml_file = tmp_path / "spec.yaml"
    yaml_file.write_text("# comment\n" + yaml.safe_dump(SEED_SPEC))
    assert ExperimentSpec.from_file(json_file).to_dict() == SEED_SPEC
    assert ExperimentSpec.from_file(yaml_file).to_dict() == SEED_SPEC


def test_from_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{\n  "meta": \n}')
    with pytest.raises(SpecFileError, match=r"bad\.json:3:1: invalid JSON"):
        ExperimentSpec.from_file(bad_json)
    bad_yaml = tmp_path / "bad.yml"
    bad_yaml.write_text("meta:\n  name: [unclosed\n")
    with pytest.raises(SpecFileError, match=r"bad\.yml:\d+:\d+: invalid YAML"):
        ExperimentSpec.from_file(bad_yaml)
    with pytest.raises(SpecFileError, match=r"use \.json, \.yaml or \.yml"):
        ExperimentSpec.from_file(tmp_path / "spec.txt")
    with pytest.raises(SpecFileError, match="cannot read it"):
        ExperimentSpec.from_file(tmp_path / "missing.json")


def test_yaml_without_pyyaml_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from submarine.models import parse_document

    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(SpecFileError, match=r"submarine-sdk\[cli\]"):
        parse_document("a: 1", yaml_syntax=True)


def test_a_schema_key_is_accepted_and_dropped() -> None:
    data = {"$schema": "../schemas/experiment-spec.schema.json", **SEED_SPEC}
    assert ExperimentSpec.model_validate(data).to_dict() == SEED_SPEC

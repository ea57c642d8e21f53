"""0.8.0's mapping rules: filling a template, the made parameters, json-flattener's paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from submarine.models import ExperimentTemplateSpec, TemplateFillError
from submarine.models.templating import (
    defaults,
    fill,
    flatten,
    path_steps,
    resource_parameters,
    unflatten,
    with_resource_map,
    with_resource_parameters,
)

from .test_template import SPEC, TEMPLATE


def role_spec(resources: str, **meta: Any) -> dict[str, Any]:
    """A one-Worker spec with these resources."""
    return {
        "meta": {"name": "n", "framework": "TensorFlow", "cmd": "python x.py", **meta},
        "environment": {"image": "i"},
        "spec": {"Worker": {"replicas": 1, "resources": resources}},
    }


def made(experiment_spec: dict[str, Any], *declared: dict[str, Any]) -> list[dict[str, Any]]:
    return with_resource_parameters(list(declared), experiment_spec)


# -- the made parameters ---------------------------------------------------------------------


def test_every_role_has_three_made_parameters_in_the_spec_order() -> None:
    params = resource_parameters(SPEC)
    assert [(p["name"], p["value"]) for p in params] == [
        ("spec.Ps.replicas", "1"),
        ("spec.Ps.resourceMap.cpu", "1"),
        ("spec.Ps.resourceMap.memory", "1024M"),
        ("spec.Worker.replicas", "1"),
        ("spec.Worker.resourceMap.cpu", "1"),
        ("spec.Worker.resourceMap.memory", "1024M"),
    ]
    assert {(p["required"], p["description"]) for p in params} == {("false", "")}


def test_a_missing_replica_count_and_cpu_are_one() -> None:
    spec = role_spec("memory=2G")
    del spec["spec"]["Worker"]["replicas"]
    values = {p["name"]: p["value"] for p in resource_parameters(spec)}
    assert values == {
        "spec.Worker.replicas": "1",
        "spec.Worker.resourceMap.cpu": "1",
        "spec.Worker.resourceMap.memory": "2G",
    }


def test_made_parameters_are_replaced_not_made_twice() -> None:
    once = made(SPEC, *TEMPLATE["parameters"])
    twice = with_resource_parameters(once, SPEC)
    assert twice == once
    assert len([p for p in twice if p["name"] == "spec.Worker.replicas"]) == 1
    changed = copy.deepcopy(SPEC)
    changed["spec"]["Worker"]["replicas"] = 4
    regenerated = {p["name"]: p["value"] for p in with_resource_parameters(once, changed)}
    assert regenerated["spec.Worker.replicas"] == "4"
    assert [p["name"] for p in with_resource_parameters(once, changed)][:3] == [
        "learning_rate",
        "batch_size",
        "experiment_name",
    ]


def test_a_stored_spec_has_each_role_resource_map() -> None:
    stored = with_resource_map(role_spec("cpu=2, memory=4G,,nvidia.com/gpu=1"))
    assert stored["spec"]["Worker"]["resourceMap"] == {
        "cpu": "2",
        "memory": "4G",
        "nvidia.com/gpu": "1",
    }


# -- filling ------------------------------------------------------------------------------


def test_placeholders_take_the_values_given_then_the_defaults() -> None:
    params = made(SPEC, *ExperimentTemplateSpec.model_validate(TEMPLATE).to_dict()["parameters"])
    filling = fill(SPEC, params, {"experiment_name": "new-test", "learning_rate": 0.2})
    assert filling.ok
    assert filling.spec["meta"]["name"] == "new-test"
    assert filling.spec["meta"]["cmd"].endswith("--learning_rate=0.2 --batch_size=150")
    assert filling.spec["spec"]["Worker"] == {"replicas": 1, "resources": "cpu=1,memory=1024M"}


def test_a_path_and_name_parameter_wins_over_the_name_alone() -> None:
    spec = role_spec("cpu=1", cmd="python x.py --lr={{lr}}", tags=["lr={{lr}}"])
    params = made(spec, {"name": "lr", "value": "0.1"}, {"name": "meta.cmd:lr", "value": "0.5"})
    filling = fill(spec, params, {})
    assert filling.ok
    assert filling.spec["meta"]["cmd"] == "python x.py --lr=0.5"
    assert filling.spec["meta"]["tags"] == ["lr=0.1"]  # elsewhere, the plain name


def test_a_parameter_named_by_a_path_replaces_the_value_keeping_its_type() -> None:
    spec = role_spec("cpu=1")
    filling = fill(spec, made(spec), {"spec.Worker.replicas": "3"})
    assert filling.spec["spec"]["Worker"]["replicas"] == 3
    code = {"syncMode": "git", "git": {"url": "https://example.com/r.git", "trustCerts": False}}
    spec["code"] = code
    params = made(spec, {"name": "code.git.trustCerts", "value": "false"})
    assert fill(spec, params, {"code.git.trustCerts": "TRUE"}).spec["code"]["git"]["trustCerts"]
    not_a_number = fill(spec, params, {"spec.Worker.replicas": "many"}).spec["spec"]["Worker"]
    assert not_a_number["replicas"] == "many"  # left for validation to refuse


def test_resources_are_rebuilt_keeping_the_other_keys() -> None:
    spec = role_spec("cpu=1,memory=1G,nvidia.com/gpu=2")
    filling = fill(spec, made(spec), {"spec.Worker.resourceMap.cpu": "4"})
    assert filling.spec["spec"]["Worker"] == {
        "replicas": 1,
        "resources": "cpu=4,memory=1G,nvidia.com/gpu=2",
    }


def test_placeholders_in_resources_are_filled() -> None:
    # 0.8.0 builds the resources of the made values ("{{cpu}}") and then fills them.
    spec = role_spec("cpu={{cpu}},memory={{memory}},nvidia.com/gpu={{gpus}}")
    params = made(
        spec,
        {"name": "cpu", "value": "2"},
        {"name": "memory", "value": "2G"},
        {"name": "gpus", "value": "1"},
    )
    filling = fill(spec, params, {"cpu": "3"})
    assert filling.ok, filling
    assert filling.spec["spec"]["Worker"]["resources"] == "cpu=3,memory=2G,nvidia.com/gpu=1"
    model = ExperimentTemplateSpec.model_validate(
        {"name": "r", "parameters": params[:3], "experimentSpec": spec}
    )
    assert model.fill({"memory": "4G"}).spec["Worker"].resources == (
        "cpu=2,memory=4G,nvidia.com/gpu=1"
    )


def test_a_parameter_named_by_the_resources_path_gives_them_whole() -> None:
    spec = role_spec("cpu=1,nvidia.com/gpu=1")
    params = made(spec, {"name": "spec.Worker.resources", "value": "cpu=2,memory=2G"})
    filling = fill(spec, params, {})
    assert filling.ok
    assert filling.spec["spec"]["Worker"]["resources"] == "cpu=2,memory=2G"


def test_what_did_not_fit_is_kept_not_raised() -> None:
    spec = role_spec("cpu=1", cmd="python x.py {{lr}} {{nope}}")
    params = made(
        spec,
        {"name": "lr", "required": "true"},
        {"name": "idle", "value": "1"},
    )
    filling = fill(spec, params, {"stranger": "1"})
    assert not filling.ok
    assert filling.illegal == ["stranger"]
    assert filling.unused == ["idle"]
    assert filling.unmapped == ["lr", "meta.cmd:lr", "meta.cmd:nope"]
    assert filling.placeholders_unmapped == [("meta.cmd", "lr"), ("meta.cmd", "nope")]


def test_a_placeholder_may_be_empty_or_hold_any_character() -> None:
    spec = role_spec("cpu=1", cmd="run {{}} {{a b:c}}")
    params = made(spec, {"name": "", "value": "E"}, {"name": "a b:c", "value": "X"})
    assert fill(spec, params, {}).spec["meta"]["cmd"] == "run E X"


def test_the_dry_run_values() -> None:
    params = [
        {"name": "a", "value": 0.5},
        {"name": "b"},
        {"name": "c", "required": "true"},
        {"name": "d", "required": "true", "value": ""},
    ]
    assert defaults(params) == {"a": "0.5", "b": "", "c": "", "d": ""}
    assert defaults(params, stand_in=True) == {"a": "0.5", "b": "", "c": "1", "d": "1"}


def test_fill_raises_naming_what_does_not_fit() -> None:
    model = ExperimentTemplateSpec.model_validate(TEMPLATE)
    with pytest.raises(TemplateFillError) as info:
        model.fill({"stranger": "1"})
    message = str(info.value)
    assert message.startswith("template 'tf-mnist-test_1': ")
    assert "not parameters of the template: stranger" in message
    assert "given no value: experiment_name" in message


def test_fill_refuses_a_filled_spec_that_is_not_valid() -> None:
    from pydantic import ValidationError

    model = ExperimentTemplateSpec.model_validate(TEMPLATE)
    with pytest.raises(ValidationError, match=r"meta\.name"):
        model.fill({"experiment_name": "Not A Name!"})


# -- json-flattener's paths ---------------------------------------------------------------


def test_paths_of_maps_lists_and_keys_with_dots() -> None:
    document = {
        "meta": {"envVars": {"A.B": "1", "C": "2", "x[0]": "3", 'q"t': "4"}, "tags": ["a", "b"]},
        "spec": {"Worker": {"resourceMap": {"nvidia.com/gpu": "1"}}},
        "empty": {},
        "none": [],
        "gone": None,
    }
    flat = flatten(document)
    assert flat == {
        'meta.envVars["A.B"]': "1",
        "meta.envVars.C": "2",
        'meta.envVars["x[0]"]': "3",
        'meta.envVars["q\\"t"]': "4",
        "meta.tags[0]": "a",
        "meta.tags[1]": "b",
        'spec.Worker.resourceMap["nvidia.com/gpu"]': "1",
        "empty": {},
        "none": [],
    }
    assert list(path_steps('meta.envVars["A.B"]')) == ["meta", "envVars", "A.B"]
    assert list(path_steps("meta.tags[1]")) == ["meta", "tags", 1]
    assert list(path_steps('["a.b"].c')) == ["a.b", "c"]
    without_none = {k: v for k, v in document.items() if k != "gone"}
    assert unflatten(flat) == without_none


documents = st.recursive(
    st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=15,
)
"""JSON documents without nulls (flatten leaves nulls out, as Gson does: said above)."""


@settings(max_examples=300)
@given(st.dictionaries(st.text(min_size=1, max_size=6), documents, min_size=1, max_size=4))
def test_unflatten_gives_back_what_flatten_took(document: dict[str, Any]) -> None:
    assert unflatten(flatten(document)) == document


@settings(max_examples=200)
@given(st.text(max_size=12).filter(lambda s: "{{" not in s and "}}" not in s))
def test_any_value_given_is_put_in_as_it_is(value: str) -> None:
    spec = role_spec("cpu=1", cmd="python x.py --v={{v}}")
    filling = fill(spec, made(spec, {"name": "v", "value": "0"}), {"v": value})
    assert filling.ok
    assert filling.spec["meta"]["cmd"] == f"python x.py --v={value}"

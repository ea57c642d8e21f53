"""Experiment templates as input: every rule of a template, with its path and its fix.

The mapping itself (fill, flatten, the made parameters) is :mod:`.test_template_fill`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from submarine.models import (
    ExperimentSpec,
    ExperimentTemplate,
    ExperimentTemplateParamSpec,
    ExperimentTemplateSpec,
    ExperimentTemplateSubmit,
    problems_of,
)
from submarine.models.schema import template_schema
from submarine.models.templating import defaults

SPEC: dict[str, Any] = {
    "meta": {
        "name": "{{experiment_name}}",
        "namespace": "default",
        "framework": "TensorFlow",
        "cmd": "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log "
        "--learning_rate={{learning_rate}} --batch_size={{batch_size}}",
        "envVars": {"ENV1": "ENV1"},
    },
    "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    "spec": {
        "Ps": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
        "Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
    },
}
"""0.8.0's ``test_template_1.json`` spec."""

TEMPLATE: dict[str, Any] = {
    "name": "tf-mnist-test_1",
    "author": "author",
    "description": "This is a template to run tf-mnist.",
    "parameters": [
        {"name": "learning_rate", "required": "false", "description": "lr", "value": 0.1},
        {"name": "batch_size", "required": "false", "description": "batch", "value": "150"},
        {"name": "experiment_name", "required": True, "description": "name", "value": "tf-1"},
    ],
    "experimentSpec": SPEC,
}
"""0.8.0's own create example: a number and a boolean where it stores text."""


def template(**changes: Any) -> dict[str, Any]:
    """TEMPLATE with top-level keys replaced (None: removed)."""
    data = copy.deepcopy(TEMPLATE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def with_spec(change: Any, *params: dict[str, Any]) -> dict[str, Any]:
    """TEMPLATE whose spec ``change(spec)`` altered, with ``params`` added."""
    data = copy.deepcopy(TEMPLATE)
    change(data["experimentSpec"])
    data["parameters"] += list(params)
    return data


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        ExperimentTemplateSpec.model_validate(data)
    return {p.path: p.message for p in problems_of(info.value)}


# -- what is accepted, and how it is sent ----------------------------------------------


def test_the_080_example_validates_with_its_values_read_as_text() -> None:
    model = ExperimentTemplateSpec.model_validate(TEMPLATE)
    sent = model.to_dict()
    assert [p["value"] for p in sent["parameters"]] == ["0.1", "150", "tf-1"]
    assert sent["parameters"][2]["required"] == "true"
    assert model.parameters[2].is_required
    assert not model.parameters[0].is_required
    assert sent["experimentSpec"] == SPEC
    assert list(sent) == ["name", "author", "description", "parameters", "experimentSpec"]


@pytest.mark.parametrize(
    ("given", "text"),
    [(0.1, "0.1"), (2, "2"), (True, "true"), (False, "false"), ("x", "x"), (None, None)],
)
def test_numbers_and_booleans_are_read_as_their_text(given: Any, text: str | None) -> None:
    param = ExperimentTemplateParamSpec.model_validate({"name": "p", "value": given})
    assert param.value == text
    submit = ExperimentTemplateSubmit.model_validate({"params": {"p": given}})
    assert submit.params == {"p": text}


def test_a_list_is_no_parameter_value() -> None:
    with pytest.raises(ValidationError) as info:
        ExperimentTemplateParamSpec.model_validate({"name": "p", "value": [1]})
    (problem,) = problems_of(info.value)
    assert problem.path == "value"
    assert "a string, a number or a boolean" in problem.message
    assert "[1]" in problem.message


@pytest.mark.parametrize("required", ["true", "TRUE", "True", True])
def test_required_is_read_as_java_does(required: Any) -> None:
    assert ExperimentTemplateParamSpec(name="p", required=required).is_required


@pytest.mark.parametrize("required", ["false", "yes", "1", "", None, False])
def test_anything_but_true_is_not_required(required: Any) -> None:
    assert not ExperimentTemplateParamSpec(name="p", required=required).is_required


def test_parameters_are_always_sent_even_when_none_are_given() -> None:
    # 0.8.0 answers a bare 500 to a template without the key.
    spec = copy.deepcopy(SPEC)
    spec["meta"].update(name="plain", cmd="python train.py")
    model = ExperimentTemplateSpec.model_validate({"name": "plain", "experimentSpec": spec})
    assert model.to_dict()["parameters"] == []


@pytest.mark.parametrize("alias", ["experimentTemplateParamSpec", "experiment_template_param_spec"])
def test_the_080_second_name_of_the_parameters(alias: str) -> None:
    data = template(parameters=None)
    data[alias] = TEMPLATE["parameters"]
    model = ExperimentTemplateSpec.model_validate(data)
    assert [p.name for p in model.parameters] == ["learning_rate", "batch_size", "experiment_name"]
    assert alias not in model.to_dict()
    assert "parameters" in model.to_dict()


def test_both_names_of_the_parameters_are_refused() -> None:
    data = template()
    data["experimentTemplateParamSpec"] = [{"name": "other", "value": "1"}]
    found = problems(data)
    assert list(found) == ["experimentTemplateParamSpec"]
    assert "give the parameters once" in found["experimentTemplateParamSpec"]


def test_parameter_objects_are_judged_as_their_dicts() -> None:
    # 0.8.0's style: each parameter built by keywords, not written as a dict.
    typed = [ExperimentTemplateParamSpec(**p) for p in TEMPLATE["parameters"]]
    model = ExperimentTemplateSpec(name="typed", parameters=typed, experiment_spec=SPEC)
    written = template(name="typed", author=None, description=None)
    assert model.to_dict() == ExperimentTemplateSpec.model_validate(written).to_dict()
    with pytest.raises(ValidationError) as caught:
        ExperimentTemplateSpec(name="typed", parameters=typed[:2], experiment_spec=SPEC)
    assert [p.path for p in problems_of(caught.value)] == ["experimentSpec.meta.name"]


def test_the_080_keywords_build_a_template() -> None:
    spec = copy.deepcopy(SPEC)
    spec["meta"]["name"] = "typed-run"
    typed_spec = ExperimentSpec.model_validate(spec)
    typed = [ExperimentTemplateParamSpec(**p) for p in TEMPLATE["parameters"][:2]]
    model = ExperimentTemplateSpec(
        name="typed",
        author="author",
        description="built by keywords",
        parameters=None,
        experiment_template_param_spec=typed,
        experiment_spec=typed_spec,
    )
    assert [p.name for p in model.parameters] == ["learning_rate", "batch_size"]
    assert model.experiment_spec == typed_spec.to_dict()
    assert model.fill({"learning_rate": "0.2"}).meta.cmd == (typed_spec.meta.cmd or "").replace(
        "{{learning_rate}}", "0.2"
    ).replace("{{batch_size}}", "150")
    # A typed spec is judged with the parameters as a dict is.
    with pytest.raises(ValidationError) as caught:
        ExperimentTemplateSpec(name="typed", experiment_spec=typed_spec)
    assert {p.path for p in problems_of(caught.value)} == {"experimentSpec.meta.cmd"}


def test_unknown_keys_are_refused_with_a_suggestion() -> None:
    found = problems(template(parameter=[]))
    assert "did you mean 'parameters'?" in found["parameter"]
    assert "$schema" not in problems(template(**{"$schema": "x", "parameter": []}))


def test_missing_fields_say_what_to_give() -> None:
    found = problems({"parameters": []})
    assert "the template's name" in found["name"]
    assert "the experiment spec to fill" in found["experimentSpec"]
    assert (
        "the name its placeholders use"
        in problems(template(parameters=[{"value": "1"}]))["parameters.0.name"]
    )


def test_a_template_read_back_from_a_server_is_sent_again_as_it_was() -> None:
    answer = json.loads((Path(__file__).parent / "template_answer_080.json").read_text())
    read = ExperimentTemplate.model_validate(answer)
    assert read.experiment_template_id is None
    assert read.name == "tf-mnist-test_1"
    assert read.to_dict() == answer  # a payload keeps everything, nulls and unknown keys
    again = ExperimentTemplateSpec.model_validate(read.experiment_template_spec)
    names = [p["name"] for p in again.all_parameters]
    assert len(names) == len(set(names)) == 9  # the made ones are not made twice
    filled = again.fill({"experiment_name": "new-test", "learning_rate": "0.2"})
    assert filled.meta.name == "new-test"
    assert filled.meta.cmd is not None
    assert "--learning_rate=0.2 --batch_size=150" in filled.meta.cmd


# -- names --------------------------------------------------------------------------------


def test_a_name_of_32_characters_is_accepted_and_33_are_not() -> None:
    ExperimentTemplateSpec.model_validate(template(name="t" * 32))
    message = problems(template(name="t" * 33))["name"]
    assert "33 characters long: at most 32" in message


@pytest.mark.parametrize("name", ["validate", "logs", "ping"])
def test_the_experiment_api_own_routes_are_no_names(name: str) -> None:
    message = problems(template(name=name))["name"]
    assert f"POST /api/v1/experiment/{name}" in message
    assert "choose another" in message


@pytest.mark.parametrize("name", ["a/b", "a?b", "a#b", "a%b", "a\\b", "a\nb"])
def test_characters_a_url_path_cannot_carry_are_refused(name: str) -> None:
    message = problems(template(name=name))["name"]
    assert repr(name) in message
    assert "URL path" in message


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_segments_are_no_names(name: str) -> None:
    assert "could never be addressed" in problems(template(name=name))["name"]


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused(name: str) -> None:
    assert "name is empty" in problems(template(name=name))["name"]


def test_an_empty_parameter_name_is_refused() -> None:
    found = problems(template(parameters=[*TEMPLATE["parameters"], {"name": ""}]))
    assert "cannot be empty" in found["parameters.3.name"]


# -- the rules of a template as a whole ------------------------------------------------------


def test_a_placeholder_needs_a_parameter() -> None:
    found = problems(with_spec(lambda s: s["meta"].update(cmd="python x.py --lr={{lr}}")))
    message = found["experimentSpec.meta.cmd"]
    assert "placeholder {{lr}} has no parameter" in message
    assert "'name': 'lr'" in message


def test_a_placeholder_whose_name_holds_a_colon_is_named_whole() -> None:
    found = problems(with_spec(lambda s: s["meta"].update(cmd="python x.py {{a:b}}")))
    assert "placeholder {{a:b}} has no parameter" in found["experimentSpec.meta.cmd"]


def test_every_parameter_is_used() -> None:
    found = problems(template(parameters=[*TEMPLATE["parameters"], {"name": "epochs"}]))
    assert "parameter 'epochs' is never used" in found["parameters.3.name"]


def test_a_parameter_given_twice_is_refused() -> None:
    twice = {"name": "batch_size", "value": "10"}
    found = problems(template(parameters=[*TEMPLATE["parameters"], twice]))
    message = found["parameters.3.name"]
    assert "'batch_size' is given twice (parameters[1] and parameters[3])" in message


def test_placeholders_stand_in_string_values_only() -> None:
    data = with_spec(lambda s: s["spec"]["Worker"].update(replicas="{{workers}}"))
    data["parameters"].append({"name": "workers", "value": "2"})
    found = problems(data)
    message = found["experimentSpec.spec.Worker.replicas"]
    assert "placeholders work only in string values" in message
    assert "a parameter named 'spec.Worker.replicas'" in message
    assert "parameters.3.name" not in found  # not also called unused


def test_a_boolean_field_takes_no_placeholder() -> None:
    code = {"syncMode": "git", "git": {"url": "https://example.com/r.git", "trustCerts": "{{t}}"}}
    found = problems(with_spec(lambda s: s.update(code=code), {"name": "t", "value": "true"}))
    assert "only in string values" in found["experimentSpec.code.git.trustCerts"]


def test_an_env_var_named_like_a_number_field_is_a_string() -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["meta"]["envVars"] = {"replicas": "{{workers}}", "trustCerts": "{{workers}}"}

    model = ExperimentTemplateSpec.model_validate(
        with_spec(change, {"name": "workers", "value": 3})
    )
    assert model.fill({"experiment_name": "e"}).meta.env_vars == {
        "replicas": "3",
        "trustCerts": "3",
    }


def test_placeholders_are_not_keys() -> None:
    found = problems(with_spec(lambda s: s["meta"]["envVars"].update({"{{key}}": "v"})))
    message = found["experimentSpec.meta.envVars.{{key}}"]
    assert "placeholders work only in string values, never in keys" in message


def test_the_spec_filled_with_the_defaults_is_a_valid_spec() -> None:
    data = with_spec(
        lambda s: s["meta"].update(framework="{{fw}}"), {"name": "fw", "value": "Caffe"}
    )
    message = problems(data)["experimentSpec.meta.framework"]
    assert "unsupported framework 'Caffe'" in message
    assert "(with the parameters' defaults filled in)" in message


def test_a_required_parameter_without_a_default_gets_a_stand_in() -> None:
    data = template()
    data["parameters"][2] = {"name": "experiment_name", "required": "true"}
    model = ExperimentTemplateSpec.model_validate(data)  # 0.8.0 allows it
    assert model.fill({"experiment_name": "given"}).meta.name == "given"


def test_every_problem_is_reported_at_once() -> None:
    data = with_spec(
        lambda s: s["meta"].update(cmd="python x.py {{lr}}"),
        {"name": "unused_one", "value": "1"},
        {"name": "batch_size", "value": "1"},
    )
    data["name"] = "validate"
    found = problems(data)
    assert {"name", "experimentSpec.meta.cmd", "parameters.3.name", "parameters.4.name"} <= set(
        found
    )


def test_an_invalid_spec_around_placeholders_is_still_judged() -> None:
    data = with_spec(lambda s: s["spec"]["Worker"].update(resources="cpu=1,memory=1.5G"))
    assert "experimentSpec.spec.Worker.resources" in problems(data)


def test_a_template_file_is_loaded_and_judged(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(TEMPLATE))
    assert ExperimentTemplateSpec.from_file(str(path)).name == "tf-mnist-test_1"
    path.write_text(json.dumps(template(name="ping")))
    with pytest.raises(ValidationError):
        ExperimentTemplateSpec.from_file(str(path))


def test_the_filled_spec_is_an_experiment_spec() -> None:
    model = ExperimentTemplateSpec.model_validate(TEMPLATE)
    filled = model.fill({"experiment_name": "new-test", "learning_rate": 0.2})
    assert isinstance(filled, ExperimentSpec)
    assert filled.to_dict()["meta"]["cmd"] == (
        "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log "
        "--learning_rate=0.2 --batch_size=150"
    )


# -- any input: a template, or a ValidationError with readable problems -----------------

_values = st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "1", "{{a}}"])
_names = st.sampled_from(["b", "", "spec.Worker.replicas", "meta.cmd:b", "a"])
_first = st.fixed_dictionaries(
    {"name": st.just("a")},
    optional={"value": st.sampled_from(["run", "1", "", "x y"]), "required": st.just("true")},
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.tuples(
        _first,
        st.lists(
            st.fixed_dictionaries(
                {"name": _names | st.none()},
                optional={"value": _values, "required": st.sampled_from(["true", "false", True])},
            ),
            max_size=3,
        ),
    ).map(lambda pair: [pair[0], *pair[1]]),
    cmd=st.sampled_from(["python x.py", "python x.py {{a}}", "{{b}} {{a}}", "run {{b}}"]),
    replicas=st.integers(1, 3) | _values,
    name=st.sampled_from(["t", "t", "t", "ping", "t" * 40, 3]),
)
def test_any_template_validates_or_says_what_is_wrong(
    params: list[dict[str, Any]], cmd: str, replicas: Any, name: Any
) -> None:
    spec = copy.deepcopy(SPEC)
    spec["meta"].update(name="{{a}}", cmd=cmd)
    spec["spec"]["Worker"]["replicas"] = replicas
    data = {"name": name, "parameters": params, "experimentSpec": spec}
    try:
        model = ExperimentTemplateSpec.model_validate(data)
    except ValidationError as exc:
        found = problems_of(exc)
        assert found
        assert all(p.message for p in found)
        return
    assert isinstance(model.fill(defaults(model.all_parameters, stand_in=True)), ExperimentSpec)
    errors = [error.message for error in TEMPLATE_SCHEMA.iter_errors(data)]
    assert not errors, errors  # what the model accepts, the JSON Schema accepts too


TEMPLATE_SCHEMA = jsonschema.Draft202012Validator(template_schema())

"""Environments: what is stored (strict) and what a server answers (kept whole); answers read
like the dicts of 0.8.0's client, times included."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from submarine.models import (
    Environment,
    EnvironmentDefinition,
    EnvironmentSpec,
    Experiment,
    KernelSpec,
    problems_of,
)

ANSWER = {
    "environmentId": "environment_1586156073228_0001",
    "environmentSpec": {
        "name": "my-submarine-env",
        "dockerImage": "continuumio/anaconda3",
        "kernelSpec": {
            "name": "team_default_python_3.7",
            "channels": ["defaults"],
            "condaDependencies": ["alabaster=0.7.12=py37_0"],
            "pipDependencies": ["apache-submarine==0.7.0"],
        },
        "description": None,
        "image": None,
    },
}


def test_an_answer_is_kept_whole_and_reads_like_its_dict() -> None:
    env = Environment.model_validate(ANSWER)
    assert env.to_dict() == ANSWER
    assert env["environmentSpec"]["kernelSpec"]["pipDependencies"] == ["apache-submarine==0.7.0"]
    assert env["environmentId"] == "environment_1586156073228_0001"
    assert env.name == "my-submarine-env"
    assert env.environment_spec is not None
    assert env.environment_spec.kernel_spec is not None
    assert env.environment_spec.kernel_spec.conda_dependencies == ["alabaster=0.7.12=py37_0"]


def test_the_spec_of_0_8_0s_environment_test_is_a_valid_definition() -> None:
    spec = EnvironmentSpec(
        name="mytest",
        kernel_spec=KernelSpec(
            name="submarine_jupyter_py3",
            channels=["defaults"],
            conda_dependencies=[],
            pip_dependencies=[],
        ),
        docker_image="apache/submarine:jupyter-notebook-gpu-0.8.0",
    )
    definition = EnvironmentDefinition.model_validate(spec)
    assert definition.to_dict() == {
        "name": "mytest",
        "dockerImage": "apache/submarine:jupyter-notebook-gpu-0.8.0",
        "kernelSpec": {
            "name": "submarine_jupyter_py3",
            "channels": ["defaults"],
            "condaDependencies": [],
            "pipDependencies": [],
        },
    }


def problems(data: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        EnvironmentDefinition.model_validate(data)
    return [str(problem) for problem in problems_of(caught.value)]


def test_a_definition_needs_a_kubernetes_name() -> None:
    assert problems({"dockerImage": "x"}) == [
        "name: is required: the environment's name, like 'my-env' (experiments name it in "
        "environment.name)"
    ]
    (bad,) = problems({"name": "My Env"})
    assert bad.startswith("name: name 'My Env' is not valid: use lower-case letters")
    assert "like 'my-env'" in bad
    (long,) = problems({"name": "a" * 64})
    assert "is 64 characters long: at most 63" in long


def test_dependencies_are_packages_never_options() -> None:
    found = problems(
        {"name": "env", "kernelSpec": {"pipDependencies": ["ok==1", "--index-url=x", " "]}}
    )
    assert found[0].startswith(
        "kernelSpec.pipDependencies.1: dependency '--index-url=x' is an option, not a package"
    )
    assert found[1].startswith("kernelSpec.pipDependencies.2: a dependency is empty")
    (control,) = problems({"name": "env", "kernelSpec": {"condaDependencies": ["numpy\n-x"]}})
    assert "control character '\\n'" in control


def test_an_unknown_key_suggests_the_field() -> None:
    (typo,) = problems({"name": "env", "kernelSpec": {"pipDependency": ["x"]}})
    assert typo.startswith("kernelSpec.pipDependency: unknown key 'pipDependency': did you mean")


def test_times_read_as_the_text_the_server_sent() -> None:
    exp = Experiment.model_validate(
        {"experimentId": "experiment-1-0001", "createdTime": "2023-05-23T09:01:12Z"}
    )
    assert exp["createdTime"] == "2023-05-23T09:01:12Z"
    assert exp["createdTime"] in "created 2023-05-23T09:01:12Z"
    assert exp.created_time is not None
    assert exp.created_time.year == 2023
    assert exp["runningTime"] is None

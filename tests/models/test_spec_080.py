"""The model agrees with Submarine 0.8.0: every row of the validation table, and the rules
around them. (The same rows through the client, the CLI and the local server:
``tests/e2e/test_validation_table.py``.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from submarine.models import (
    CodeSpec,
    ExperimentSpec,
    ExperimentTaskSpec,
    GitCodeSpec,
    problems_of,
)

from .validation_table import BASE, RESOURCES, ROWS, Row, spec


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        ExperimentSpec.model_validate(data)
    return {p.path: p.message for p in problems_of(info.value)}


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_row_through_the_model(row: Row) -> None:
    if row.accepted:
        model = ExperimentSpec.model_validate(row.given)
        assert model.to_dict() == row.sent
        assert json.loads(model.to_json()) == row.sent
        again = ExperimentSpec.model_validate(model.to_dict())
        assert again.to_dict() == row.sent
        return
    found = problems(row.given)
    assert row.path in found, found
    for word in row.words:
        assert word in found[row.path]


def test_resource_map_is_kept_derived_and_never_dumped() -> None:
    task = ExperimentTaskSpec.model_validate(
        {"replicas": 1, "resources": "cpu=2,memory=1G", "resourceMap": {"cpu": "9"}}
    )
    assert task.resource_map == {"cpu": "2", "memory": "1G"}
    assert task.to_dict() == {"replicas": 1, "resources": "cpu=2,memory=1G"}
    assert "resourceMap" not in task.model_dump(by_alias=True)


def test_a_null_resources_with_a_resource_map_reads_the_map() -> None:
    task = ExperimentTaskSpec.model_validate({"resources": None, "resourceMap": {"cpu": "1"}})
    assert task.resources == "cpu=1"
    assert task.to_dict() == {"resources": "cpu=1"}


def test_a_null_resources_alone_is_a_missing_one() -> None:
    found = problems(spec(spec__Worker={"replicas": 1, "resources": None}))
    assert found["spec.Worker.resources"].startswith("is required: every role needs resources")


@pytest.mark.parametrize(
    ("given", "sent"),
    [("2", 2), (" 3 ", 3), (4.0, 4), (7, 7), (2**31 - 1, 2**31 - 1)],
)
def test_replicas_read_as_the_server_reads_them(given: Any, sent: int) -> None:
    data = spec(spec__Worker={"replicas": given, "resources": RESOURCES})
    assert ExperimentSpec.model_validate(data).to_dict()["spec"]["Worker"]["replicas"] == sent


@pytest.mark.parametrize("given", ["2.5", "two", "", 0, -1, False, None, [2], 2**31])
def test_replicas_that_are_not_a_whole_number_are_refused(given: Any) -> None:
    found = problems(spec(spec__Worker={"replicas": given, "resources": RESOURCES}))
    assert repr(given) in found["spec.Worker.replicas"]


@pytest.mark.parametrize(
    ("value", "text"), [(3, "3"), (-1, "-1"), (0.25, "0.25"), (10**20, "100000000000000000000")]
)
def test_numbers_as_env_values_are_sent_as_their_text(value: Any, text: str) -> None:
    model = ExperimentSpec.model_validate(spec(meta__envVars={"N": value}))
    assert model.meta.env_vars == {"N": text}
    assert model.to_dict()["meta"]["envVars"] == {"N": text}


@pytest.mark.parametrize("value", [None, True, [1], {"a": 1}, float("nan")])
def test_other_env_values_are_refused(value: Any) -> None:
    found = problems(spec(meta__envVars={"N": value}))
    assert "the value of 'N'" in found["meta.envVars"]
    assert "give a string" in found["meta.envVars"]


def test_a_null_task_env_is_not_sent() -> None:
    data = spec(spec__Worker={"replicas": 1, "resources": RESOURCES, "envVars": None})
    assert ExperimentSpec.model_validate(data).to_dict() == BASE


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/apache/submarine.git",
        "http://git.local/r.git",
        "ssh://git@github.com/apache/submarine.git",
        "git://host/r.git",
        "file:///srv/repos/r.git",
        "HTTPS://GitHub.com/a/b",
    ],
)
def test_git_urls_with_a_scheme_git_can_clone_are_accepted(url: str) -> None:
    assert GitCodeSpec(url=url).url == url


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("git@github.com:apache/submarine.git", "'ssh://git@github.com/apache/submarine.git'"),
        ("github.com:apache/submarine.git", "'ssh://github.com/apache/submarine.git'"),
        ("host:/srv/r.git", "'ssh://host/srv/r.git'"),
        ("/srv/repos/r.git", "'file:///srv/repos/r.git'"),
        ("github.com/a/b", "'https://github.com/a/b'"),
        ("ftp://host/r.git", "use one of https://, http://, ssh://, git://, file://"),
        ("", "give the repository's URL"),
    ],
)
def test_git_urls_git_cannot_clone_are_refused_with_the_fix(url: str, fix: str) -> None:
    found = problems(spec(code={"git": {"url": url}}))
    assert repr(url) in found["code.git.url"]
    assert fix in found["code.git.url"]


def test_git_branch_given_or_defaulted() -> None:
    assert GitCodeSpec(url="file:///r").branch == "main"
    assert GitCodeSpec(url="file:///r").to_dict() == {"url": "file:///r"}
    assert GitCodeSpec(url="file:///r", branch="dev").branch == "dev"
    assert GitCodeSpec.model_validate({"url": "file:///r", "branch": ""}).branch == "main"


@pytest.mark.parametrize("mode", ["git", "GIT", " Git ", None])
def test_sync_mode_git_in_any_case_or_null_is_git(mode: Any) -> None:
    code = CodeSpec.model_validate({"syncMode": mode, "git": {"url": "file:///r"}})
    assert code.to_dict() == {"syncMode": "git", "git": {"url": "file:///r"}}


@pytest.mark.parametrize("mode", ["hdfs", "nfs", "s3", "svn"])
def test_sync_modes_that_sync_nothing_are_refused(mode: str) -> None:
    found = problems(spec(code={"syncMode": mode, "git": {"url": "file:///r"}}))
    assert f"syncMode {mode!r} is not supported: use 'git'" in found["code.syncMode"]


def test_code_without_git_says_what_to_give() -> None:
    found = problems(spec(code={"syncMode": "git"}))
    assert found["code.git"].startswith("is required: Submarine syncs code only from git")


def test_a_role_image_on_every_role_is_enough() -> None:
    data = spec(
        environment={"name": "my-env"},
        spec={
            "Ps": {"replicas": 1, "resources": RESOURCES, "image": "a"},
            "Worker": {"replicas": 1, "resources": RESOURCES, "image": "b"},
        },
    )
    assert ExperimentSpec.model_validate(data).environment.name == "my-env"
    found = problems({**data, "spec": {**data["spec"], "Chief": {"resources": RESOURCES}}})
    assert "(missing on Chief)" in found["environment.image"]


def test_tensorflow_handler_spec_with_ps_is_accepted() -> None:
    data = spec(
        spec={"Ps": {"resources": RESOURCES}, "Worker": {"resources": RESOURCES}},
        experimentHandlerSpec={"FILE_SYSTEM_TYPE": "HDFS"},
    )
    model = ExperimentSpec.model_validate(data)
    assert model.experiment_handler_spec == {"FILE_SYSTEM_TYPE": "HDFS"}


@pytest.mark.parametrize("framework", ["PyTorch", "XGBoost"])
def test_handler_spec_is_not_judged_on_other_frameworks(framework: str) -> None:
    data = spec(
        meta__framework=framework,
        spec={"Master": {"resources": RESOURCES}},
        experimentHandlerSpec={"A": "b"},
    )
    assert ExperimentSpec.model_validate(data).experiment_handler_spec == {"A": "b"}


def test_pytorch_without_a_master_is_accepted() -> None:
    data = spec(meta__framework="PyTorch", spec={"Worker": {"replicas": 2, "resources": RESOURCES}})
    assert ExperimentSpec.model_validate(data).total_replicas == 2


def test_the_table_rules_are_reported_with_the_field_errors() -> None:
    data = spec(
        meta__framework="xgboost",
        environment={"name": "env"},
        spec={"worker": {"replicas": "x", "resources": "memory=2000000000K"}},
    )
    found = problems(data)
    assert set(found) == {
        "spec",
        "spec.worker.replicas",
        "spec.worker.resources",
        "environment.image",
    }

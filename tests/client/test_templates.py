"""The template methods of both clients against the real local server, over real HTTP:
0.8.0's answers and error messages, a submitted template's run, the preview extension."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import pytest

from submarine.client import (
    AsyncExperimentClient,
    BadRequestError,
    ExperimentClient,
    NotFoundError,
    TemplateValidationError,
)
from submarine.models import (
    Experiment,
    ExperimentSpec,
    ExperimentStatus,
    ExperimentTemplate,
    ExperimentTemplateSpec,
)
from tests.client.conftest import AsyncDriver, SyncDriver
from tests.support import make_spec, unique_name


def template_name(prefix: str = "client-tpl") -> str:
    """A template name no other test of this session uses (at most 32 characters)."""
    name = unique_name(prefix)
    assert len(name) <= 32
    return name


PRINT_LR = "python -c \"print('lr={{learning_rate}} batch={{batch_size}}')\""


def template(name: str, **spec_options: Any) -> dict[str, Any]:
    """A runnable template: a command printing two parameters, and a required name."""
    spec = make_spec(name="{{experiment_name}}", cmd=PRINT_LR, **spec_options)
    return {
        "name": name,
        "author": "tests",
        "description": "prints its parameters",
        "parameters": [
            {"name": "learning_rate", "required": "false", "description": "lr", "value": 0.1},
            {"name": "batch_size", "required": "false", "description": "batch", "value": 150},
            {"name": "experiment_name", "required": True, "description": "the run's name"},
        ],
        "experimentSpec": spec,
    }


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest, server_url: str) -> Iterator[Any]:
    """Each test runs on ExperimentClient and on AsyncExperimentClient."""
    if request.param == "sync":
        with ExperimentClient(server_url, timeout=30) as sync:
            yield SyncDriver(sync)
        return
    loop = asyncio.new_event_loop()
    aio = AsyncExperimentClient(server_url, timeout=30)
    try:
        yield AsyncDriver(aio, loop)
    finally:
        loop.run_until_complete(aio.close())
        loop.close()


def param_values(made: ExperimentTemplate) -> dict[str | None, str | None]:
    return {p.name: p.value for p in made.experiment_template_spec.parameters or []}


def test_create_get_list_patch_delete(client: Any) -> None:
    name = template_name()
    created = client.create_template(template(name))
    assert isinstance(created, ExperimentTemplate)
    assert created.name == name
    assert created.experiment_template_id is not None
    assert isinstance(created.experiment_template_id.id, int)
    values = param_values(created)
    assert values["learning_rate"] == "0.1"  # 0.8.0 stores text
    assert values["spec.Worker.replicas"] == "1"  # made for the role
    assert values["spec.Worker.resourceMap.cpu"] == "100m"

    got = client.get_template(name)
    assert got.experiment_template_id is None  # only create and patch answer an id
    assert got.experiment_template_spec.to_dict() == created.experiment_template_spec.to_dict()
    assert name in [t.name for t in client.list_templates()]

    changed = ExperimentTemplateSpec.model_validate(got.experiment_template_spec)
    changed.parameters[0].value = "0.5"
    patched = client.patch_template(name, changed)
    assert patched.experiment_template_id is not None
    names = [p.name for p in patched.experiment_template_spec.parameters or []]
    assert len(names) == len(set(names))  # a template read back keeps one of each
    assert param_values(client.get_template(name))["learning_rate"] == "0.5"

    deleted = client.delete_template(name)
    assert deleted.name == name
    with pytest.raises(NotFoundError) as caught:
        client.get_template(name)
    assert caught.value.message == "ExperimentTemplate not found."
    assert name not in [t.name for t in client.list_templates()]


def test_a_name_that_needs_quoting(client: Any) -> None:
    name = unique_name("t ü+").replace("-", " ")
    client.create_template(template(name))
    assert client.get_template(name).name == name
    assert client.delete_template(name).name == name


def test_a_duplicate_name_is_refused(client: Any) -> None:
    name = template_name()
    client.create_template(template(name))
    try:
        with pytest.raises(BadRequestError, match="Unable to insert or update"):
            client.create_template(template(name))
    finally:
        client.delete_template(name)


def test_unknown_templates_are_not_found(client: Any) -> None:
    name = template_name("missing")
    with pytest.raises(NotFoundError, match=r"ExperimentTemplate not found\."):
        client.delete_template(name)
    with pytest.raises(NotFoundError, match=r"ExperimentTemplate not found\."):
        client.submit_template(name, {})
    with pytest.raises(NotFoundError, match=r"ExperimentTemplate not found\."):
        client.patch_template(name, template(name))


def test_an_invalid_template_is_refused_before_it_is_sent(client: Any) -> None:
    name = template_name()
    bad = template(name)
    bad["parameters"].append({"name": "never_used", "value": "1"})
    with pytest.raises(TemplateValidationError, match="'never_used' is never used"):
        client.create_template(bad)
    assert name not in [t.name for t in client.list_templates()]


def test_a_submitted_template_runs_with_its_values(client: Any) -> None:
    name = template_name()
    client.create_template(template(name, roles={"Worker": 1}))
    try:
        run = template_name("run")
        experiment = client.submit_template(
            name,
            {"experiment_name": run, "learning_rate": 0.2, "spec.Worker.replicas": 2},
        )
        assert isinstance(experiment, Experiment)
        assert experiment.status is ExperimentStatus.ACCEPTED
        assert experiment.spec is not None
        assert experiment.spec.meta.name == run
        assert experiment.spec.meta.cmd == PRINT_LR.replace("{{learning_rate}}", "0.2").replace(
            "{{batch_size}}", "150"
        )
        assert experiment.spec.spec["Worker"].replicas == 2
        log = client.wait_for_finish(
            experiment.experiment_id, polling_interval=1, timeout=60, stream=io.StringIO()
        )
        assert client.get_experiment(experiment.experiment_id).status is (
            ExperimentStatus.SUCCEEDED
        )
        assert [pod.lines for pod in log.pods] == [["lr=0.2 batch=150"]] * 2
    finally:
        client.delete_template(name)


def test_submit_errors_are_0_8_0s(client: Any) -> None:
    name = template_name()
    client.create_template(template(name))
    try:
        with pytest.raises(BadRequestError) as caught:
            client.submit_template(name, {"experiment_name": "x", "stranger": "1"})
        assert caught.value.message == "Parameters contains illegal key: [stranger]"
        with pytest.raises(BadRequestError) as caught:
            client.submit_template(name, {"learning_rate": "0.3"})
        assert caught.value.message.startswith("Template contains unmapped value: [")
        assert "experiment_name" in caught.value.message
    finally:
        client.delete_template(name)


def test_preview_fills_and_creates_nothing(client: Any) -> None:
    name = template_name()
    client.create_template(template(name))
    try:
        run = template_name("preview")
        spec = client.preview_template(name, {"experiment_name": run, "batch_size": 64})
        assert isinstance(spec, ExperimentSpec)
        assert spec.meta.name == run
        assert spec.meta.cmd == "python -c \"print('lr=0.1 batch=64')\""
        listed = client.list_experiments()
        assert run not in [e.spec.meta.name for e in listed if e.spec is not None]
        with pytest.raises(BadRequestError, match=r"illegal key: \[nope\]"):
            client.preview_template(name, {"experiment_name": run, "nope": "1"})
    finally:
        client.delete_template(name)

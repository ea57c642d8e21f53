"""Each template method's request and its reading of the answer, on both clients
(MockTransport: exact requests, and what a server other than the local one says)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from submarine.client import (
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    NotSupportedError,
    SpecValidationError,
    TemplateValidationError,
)
from submarine.models import Experiment, ExperimentSpec, ExperimentTemplate
from tests.client.conftest import HOST, Script, experiment, fail, ok

SPEC: dict[str, Any] = {
    "meta": {"name": "{{name}}", "framework": "TensorFlow", "cmd": "python train.py --lr={{lr}}"},
    "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    "spec": {"Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"}},
}
TEMPLATE: dict[str, Any] = {
    "name": "tf-mnist",
    "author": "ada",
    "description": "mnist",
    "parameters": [
        {"name": "lr", "required": "false", "description": "", "value": 0.1},
        {"name": "name", "required": True, "description": ""},
    ],
    "experimentSpec": SPEC,
}


def answer(template: dict[str, Any] | None = None, *, with_id: bool = False) -> dict[str, Any]:
    """A template as a server answers it."""
    spec = json.loads(json.dumps(template or TEMPLATE))
    for param in spec["parameters"]:
        for key in ("value", "required"):
            if isinstance(param.get(key), bool | float | int):
                param[key] = json.dumps(param[key])
    made_id = {"id": 1, "serverTimestamp": 1626160071451} if with_id else None
    return {"experimentTemplateId": made_id, "experimentTemplateSpec": spec}


def route(script_answers: dict[str, httpx.Response]) -> Script:
    """Answers by ``METHOD path``; anything else is a 404."""

    def handler(request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.raw_path.decode()}"
        return script_answers.get(key) or fail(404, f"no route {key}")

    return Script(handler)


def test_create_sends_the_judged_template_and_reads_the_answer(make: Any) -> None:
    script = route({"POST /api/v1/template": ok(answer(with_id=True))})
    made = make(script).create_template(TEMPLATE)
    assert isinstance(made, ExperimentTemplate)
    assert made.name == "tf-mnist"
    assert made.experiment_template_id is not None
    assert made.experiment_template_id.id == 1
    request = script.requests[0]
    assert request.headers["Content-Type"] == "application/json"
    sent = json.loads(request.content)
    assert sent["parameters"][0]["value"] == "0.1"
    assert sent["parameters"][1]["required"] == "true"
    assert sent["experimentSpec"] == SPEC


def test_create_takes_a_template_read_back(make: Any) -> None:
    read = ExperimentTemplate.model_validate(answer())
    script = route({"POST /api/v1/template": ok(answer(with_id=True))})
    client = make(script)
    client.create_template(read)
    client.create_template(read.experiment_template_spec)
    first, second = (json.loads(r.content) for r in script.requests)
    assert first == second
    assert first["name"] == "tf-mnist"


def test_an_invalid_template_lists_every_problem_and_sends_nothing(make: Any) -> None:
    script = route({})
    bad = {**TEMPLATE, "name": "validate", "parameters": [*TEMPLATE["parameters"], {"name": "x"}]}
    with pytest.raises(TemplateValidationError) as caught:
        make(script).create_template(bad)
    error = caught.value
    assert isinstance(error, SpecValidationError)
    assert isinstance(error, ValueError)
    assert {p.path for p in error.problems} == {"name", "parameters.2.name"}
    assert str(error).startswith("invalid experiment template (2 problems):\n")
    assert script.requests == []


def test_a_template_of_the_wrong_type_is_a_type_error(make: Any) -> None:
    with pytest.raises(TypeError, match="a template read from a server or a dict, got str"):
        make(route({})).create_template("name: x")


def test_get_list_patch_delete_use_the_template_paths(make: Any) -> None:
    script = route(
        {
            "GET /api/v1/template": ok([answer(), answer({**TEMPLATE, "name": "other"})]),
            "GET /api/v1/template/tf-mnist": ok(answer()),
            "PATCH /api/v1/template/tf-mnist": ok(answer(with_id=True)),
            "DELETE /api/v1/template/tf-mnist": ok(answer()),
        }
    )
    client = make(script)
    listed = client.list_templates()
    assert [t.name for t in listed] == ["tf-mnist", "other"]
    assert all(isinstance(t, ExperimentTemplate) for t in listed)
    assert client.get_template("tf-mnist").experiment_template_id is None
    assert client.patch_template("tf-mnist", TEMPLATE).experiment_template_id is not None
    assert client.delete_template("tf-mnist").name == "tf-mnist"
    assert script.paths() == [
        "GET /api/v1/template",
        "GET /api/v1/template/tf-mnist",
        "PATCH /api/v1/template/tf-mnist",
        "DELETE /api/v1/template/tf-mnist",
    ]


def test_names_are_quoted_into_the_path(make: Any) -> None:
    script = route({})
    client = make(script)
    with pytest.raises(NotFoundError):
        client.get_template("a b?c#d/e%")
    assert script.requests[0].url.raw_path == b"/api/v1/template/a%20b%3Fc%23d%2Fe%25"


@pytest.mark.parametrize("name", ["", "  ", ".", "..", None])
def test_a_name_no_path_can_carry_is_refused_before_sending(make: Any, name: Any) -> None:
    script = route({})
    client = make(script)
    for send in (client.get_template, client.delete_template, client.submit_template):
        with pytest.raises(ValueError, match="template name"):
            send(name)
    assert script.requests == []


def test_a_patch_keeps_the_name(make: Any) -> None:
    script = route({})
    with pytest.raises(TemplateValidationError) as caught:
        make(script).patch_template("old-name", TEMPLATE)
    (problem,) = caught.value.problems
    assert problem.path == "name"
    assert "'tf-mnist', but the template patched is 'old-name'" in problem.message
    assert script.requests == []


def test_the_not_found_answer_is_not_found(make: Any) -> None:
    script = route({"GET /api/v1/template/gone": fail(404, "ExperimentTemplate not found.")})
    with pytest.raises(NotFoundError, match="ExperimentTemplate not found"):
        make(script).get_template("gone")


def test_submit_posts_the_params_as_text_and_reads_the_experiment(make: Any) -> None:
    created = experiment("experiment-1647192232698-0007", "Accepted")
    script = route({"POST /api/v1/experiment/tf-mnist": ok(created)})
    result = make(script).submit_template("tf-mnist", {"lr": 0.2, "name": "run-1", "on": True})
    assert isinstance(result, Experiment)
    assert result.experiment_id == "experiment-1647192232698-0007"
    sent = json.loads(script.requests[0].content)
    assert sent == {"params": {"lr": "0.2", "name": "run-1", "on": "true"}}


def test_submit_with_no_params_sends_an_empty_map(make: Any) -> None:
    script = route({"POST /api/v1/experiment/t": ok(experiment())})
    make(script).submit_template("t")
    assert json.loads(script.requests[0].content) == {"params": {}}


def test_submit_of_a_bad_value_sends_nothing(make: Any) -> None:
    script = route({})
    with pytest.raises(TemplateValidationError) as caught:
        make(script).submit_template("t", {"lr": [1, 2]})
    assert str(caught.value).startswith("invalid template parameters (1 problem):")
    assert caught.value.problems[0].path == "params.lr"
    assert script.requests == []


@pytest.mark.parametrize("name", ["validate", "logs", "ping"])
def test_a_template_on_an_experiment_route_cannot_be_submitted(make: Any, name: str) -> None:
    script = route({})
    with pytest.raises(ValueError, match=f"POST /api/v1/experiment/{name} is the experiment"):
        make(script).submit_template(name, {})
    assert script.requests == []


def test_the_server_words_a_bad_key(make: Any) -> None:
    refused = fail(400, "Parameters contains illegal key: [stranger]")
    script = route({"POST /api/v1/experiment/t": refused})
    with pytest.raises(BadRequestError, match=r"illegal key: \[stranger\]"):
        make(script).submit_template("t", {"stranger": "1"})
    assert len(script.requests) == 1  # a create is not sent again


def pong(*extensions: str) -> httpx.Response:
    return ok("Pong", attributes={"extensions": list(extensions)})


def test_preview_asks_the_extensions_once_and_reads_the_filled_spec(make: Any) -> None:
    filled = {**SPEC, "meta": {**SPEC["meta"], "name": "run-1", "cmd": "python train.py --lr=1"}}
    script = route(
        {
            "GET /api/v1/experiment/ping": pong("log-stream", "template-preview"),
            "POST /api/v1/template/tf-mnist/preview": ok(filled),
        }
    )
    client = make(script)
    spec = client.preview_template("tf-mnist", {"name": "run-1", "lr": 1})
    assert isinstance(spec, ExperimentSpec)
    assert spec.meta.cmd == "python train.py --lr=1"
    client.preview_template("tf-mnist", {"name": "run-1", "lr": 1})
    assert script.paths() == [
        "GET /api/v1/experiment/ping",
        "POST /api/v1/template/tf-mnist/preview",
        "POST /api/v1/template/tf-mnist/preview",
    ]
    assert json.loads(script.requests[1].content) == {"params": {"name": "run-1", "lr": "1"}}


@pytest.mark.parametrize("offers", ["other extensions", "no answer"])
def test_preview_on_a_server_without_it_says_so(make: Any, offers: str) -> None:
    ping = pong("log-stream") if offers == "other extensions" else fail(500, "boom")
    script = route({"GET /api/v1/experiment/ping": ping})
    with pytest.raises(NotSupportedError) as caught:
        make(script).preview_template("tf-mnist", {})
    assert caught.value.feature == "template-preview"
    message = str(caught.value)
    assert f"the server at {HOST} does not preview templates" in message
    assert "submit_template creates the experiment" in message
    assert script.paths() == ["GET /api/v1/experiment/ping"]


def test_a_filled_spec_that_is_not_valid_is_an_invalid_response(make: Any) -> None:
    broken = {**SPEC, "meta": {**SPEC["meta"], "name": "{{name}}"}}
    script = route(
        {
            "GET /api/v1/experiment/ping": pong("template-preview"),
            "POST /api/v1/template/t/preview": ok(broken),
        }
    )
    with pytest.raises(InvalidResponseError, match=r"a filled spec that is not valid \(meta\.name"):
        make(script).preview_template("t", {})

"""Submitting a template over raw HTTP against a real local server (``POST
/api/v1/experiment/{templateName}``): 0.8.0's mapping rules and messages, the experiment
created as any other; and this server's preview and validate routes for templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from submarine.server.api.wire import ADDED_FIELDS, EXPERIMENT_FIELDS

from .api_support import API, ID_RE, fail, ok, wait_status
from .template_support import (
    MNIST_CMD,
    NEW_TEST_CMD,
    SUBMIT,
    TEMPLATES,
    TEST_TEMPLATE_1_SUBMIT,
    create_template,
    mnist_template,
    small_template,
)


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as http:
        yield http


def submit(client: httpx.Client, name: str, params: dict[str, Any]) -> dict[str, Any]:
    result = ok(client.post(f"{SUBMIT}/{name}", json={"params": params}))
    assert isinstance(result, dict)
    return result


def preview(client: httpx.Client, name: str, params: dict[str, Any]) -> dict[str, Any]:
    result = ok(client.post(f"{TEMPLATES}/{name}/preview", json={"params": params}))
    assert isinstance(result, dict)
    return result


def test_submit_creates_the_experiment_0_8_0_makes_of_its_own_template(
    client: httpx.Client,
) -> None:
    template = create_template(client, mnist_template())["experimentTemplateSpec"]
    shown = preview(client, template["name"], TEST_TEMPLATE_1_SUBMIT["params"])
    response = client.post(f"{SUBMIT}/{template['name']}", json=TEST_TEMPLATE_1_SUBMIT)
    experiment = ok(response)
    assert list(experiment) == [*EXPERIMENT_FIELDS, *ADDED_FIELDS]
    assert ID_RE.match(experiment["experimentId"])
    assert experiment["status"] == "Accepted"
    spec = experiment["spec"]
    assert spec["meta"]["name"] == "new-test"
    assert spec["meta"]["cmd"] == NEW_TEST_CMD
    assert spec["meta"]["envVars"] == {"ENV1": "ENV1"}
    for role in ("Ps", "Worker"):
        assert spec["spec"][role]["replicas"] == 1
        assert spec["spec"][role]["resources"] == "cpu=1,memory=1024M"
    # the preview is that spec, but for the id nothing had then
    assert shown == {**spec, "meta": {**spec["meta"], "experimentId": None}}
    stored = ok(client.get(f"{API}/{experiment['experimentId']}"))
    assert stored["spec"] == spec
    ok(client.delete(f"{API}/{experiment['experimentId']}"))


def test_values_are_filled_as_text_and_the_path_wins_over_the_bodys_name(
    client: httpx.Client,
) -> None:
    template = small_template(
        cmd="python -c \"print('lr={{lr}} flag={{flag}}')\"",
        parameters=[{"name": "lr", "value": "0.1"}, {"name": "flag", "value": "false"}],
        envVars={"LR": "{{lr}}"},
        tags=["lr-{{lr}}"],
    )
    create_template(client, template)
    body = {"name": "some-other-template", "params": {"lr": 0.25, "flag": True}}
    experiment = ok(client.post(f"{SUBMIT}/{template['name']}", json=body))
    meta = experiment["spec"]["meta"]
    assert meta["cmd"] == "python -c \"print('lr=0.25 flag=true')\""
    assert meta["envVars"] == {"LR": "0.25"}
    assert meta["tags"] == ["lr-0.25"]
    # the experiment is queued and run as any other; its stored spec has the values
    done = wait_status(client, experiment["experimentId"], {"Succeeded"})
    assert done["spec"]["meta"]["cmd"] == meta["cmd"]
    log = ok(client.get(f"{API}/logs/{experiment['experimentId']}"))
    assert log["logContent"][0]["podLog"] == ["lr=0.25 flag=true"]


def test_parameters_left_out_take_their_defaults(client: httpx.Client) -> None:
    template = create_template(client, mnist_template())["experimentTemplateSpec"]
    spec = preview(client, template["name"], {"experiment_name": "Mixed-Case"})
    assert spec["meta"]["cmd"] == MNIST_CMD.replace("{{learning_rate}}", "0.1").replace(
        "{{batch_size}}", "150"
    )
    assert spec["meta"]["name"] == "mixed-case"  # lower-cased as on any create


def test_a_key_that_is_no_parameter_is_0_8_0s_illegal_key(client: httpx.Client) -> None:
    template = create_template(client, small_template())["experimentTemplateSpec"]
    for route in (f"{SUBMIT}/{template['name']}", f"{TEMPLATES}/{template['name']}/preview"):
        response = client.post(route, json={"params": {"zeta": "1", "alpha": "2", "lr": "3"}})
        fail(response, 400, "Parameters contains illegal key: [alpha, zeta]")


def test_a_required_parameter_left_out_is_0_8_0s_unmapped_value(client: httpx.Client) -> None:
    template = create_template(client, mnist_template())["experimentTemplateSpec"]
    response = client.post(f"{SUBMIT}/{template['name']}", json={"params": {}})
    fail(
        response,
        400,
        "Template contains unmapped value: [experiment_name, meta.name:experiment_name]",
    )
    # an illegal key is said first, as on 0.8.0
    response = client.post(f"{SUBMIT}/{template['name']}", json={"params": {"x": "1"}})
    fail(response, 400, "Parameters contains illegal key: [x]")


def test_an_optional_parameter_without_a_default_must_be_given_as_on_0_8_0(
    client: httpx.Client,
) -> None:
    template = small_template(parameters=[{"name": "lr", "required": False}])
    create_template(client, template)
    fail(
        client.post(f"{SUBMIT}/{template['name']}", json={"params": {}}),
        400,
        "Parameters contains unused key: [lr]",
    )
    assert "lr=0.5" in preview(client, template["name"], {"lr": "0.5"})["meta"]["cmd"]


def test_a_path_and_placeholder_parameter_wins_over_the_plain_one(client: httpx.Client) -> None:
    template = small_template(
        cmd="python -c \"print('{{lr}}')\"",
        parameters=[{"name": "lr", "value": "0.1"}, {"name": "meta.cmd:lr", "value": "0.9"}],
        envVars={"LR": "{{lr}}"},
    )
    create_template(client, template)
    meta = preview(client, template["name"], {})["meta"]
    assert meta["cmd"] == "python -c \"print('0.9')\""
    assert meta["envVars"] == {"LR": "0.1"}
    meta = preview(client, template["name"], {"meta.cmd:lr": "0.7", "lr": "0.2"})["meta"]
    assert (meta["cmd"], meta["envVars"]["LR"]) == ("python -c \"print('0.7')\"", "0.2")


def test_a_parameter_named_by_a_path_replaces_that_value_whole(client: httpx.Client) -> None:
    template = small_template(
        parameters=[{"name": "lr", "value": "0.1"}, {"name": "meta.envVars.MODE", "value": "b"}],
        envVars={"MODE": "a"},
    )
    create_template(client, template)
    spec = preview(
        client,
        template["name"],
        {"spec.Worker.replicas": 2, "spec.Worker.resourceMap.memory": "32M"},
    )
    assert spec["meta"]["envVars"] == {"MODE": "b"}
    worker = spec["spec"]["Worker"]
    assert worker["replicas"] == 2  # a number, as Gson reads it back
    assert worker["resources"] == "cpu=100m,memory=32M"  # rebuilt from the made parameters
    assert worker["resourceMap"] == {"cpu": "100m", "memory": "32M"}


def test_the_filled_spec_is_judged_as_any_create(client: httpx.Client) -> None:
    template = create_template(client, small_template())["experimentTemplateSpec"]
    name = template["name"]
    for params in ({"spec.Worker.replicas": "two"}, {"spec.Worker.resourceMap.cpu": "1000"}):
        refused = fail(client.post(f"{SUBMIT}/{name}", json={"params": params}), 400)
        filled = json.loads(json.dumps(template["experimentSpec"]))
        worker = filled["spec"]["Worker"]
        worker.pop("resourceMap")
        if "spec.Worker.replicas" in params:
            worker["replicas"] = "two"
        else:
            worker["resources"] = "cpu=1000,memory=64M"
        assert refused == fail(client.post(API, json=filled), 400)
        assert refused == fail(
            client.post(f"{TEMPLATES}/{name}/preview", json={"params": params}), 400
        )
    assert "can never run on this server" in refused


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"null", 'the request body is null: send {"params": '),
        (b"", 'the request body is empty: send {"params": '),
        (b"[]", 'the request body is a list: send {"params": '),
        (b"{}", "params: is required: the values of the template's parameters"),
        (b'{"name": "x"}', "params: is required"),
    ],
)
def test_a_submit_without_params_is_a_400_that_says_what_to_send(
    client: httpx.Client, body: bytes, said: str
) -> None:
    template = create_template(client, small_template())["experimentTemplateSpec"]
    for route in (f"{SUBMIT}/{template['name']}", f"{TEMPLATES}/{template['name']}/preview"):
        response = client.post(route, content=body, headers={"content-type": "application/json"})
        assert fail(response, 400).startswith(said)


def test_preview_creates_nothing(client: httpx.Client) -> None:
    template = create_template(client, small_template())["experimentTemplateSpec"]
    before = [e["experimentId"] for e in ok(client.get(API))]
    spec = preview(client, template["name"], {"lr": "0.3"})
    assert spec["meta"]["experimentId"] is None
    assert spec["meta"]["cmd"] == "python -c \"print('lr=0.3')\""
    assert [e["experimentId"] for e in ok(client.get(API))] == before


def test_ping_advertises_the_preview(client: httpx.Client) -> None:
    response = client.get(f"{API}/ping")
    assert "template-preview" in response.json()["attributes"]["extensions"]


# -- validate -----------------------------------------------------------------------------


def test_validate_judges_a_template_without_storing_it(client: httpx.Client) -> None:
    template = small_template(cmd="python train.py {{lr}} {{nope}}", framework="Caffe")
    template["parameters"].append({"name": "unused", "value": "1"})
    result = ok(client.post(f"{TEMPLATES}/validate", json=template))
    assert result["valid"] is False
    by_path = {p["path"]: p for p in result["problems"]}
    assert set(by_path) == {"parameters.1.name", "experimentSpec.meta.cmd"}
    assert by_path["parameters.1.name"]["loc"] == ["parameters", 1, "name"]
    assert "'unused' is never used" in by_path["parameters.1.name"]["message"]
    assert "{{nope}} has no parameter" in by_path["experimentSpec.meta.cmd"]["message"]
    fail(client.get(f"{TEMPLATES}/{template['name']}"), 404)
    good = small_template()
    assert ok(client.post(f"{TEMPLATES}/validate", json=good)) == {"valid": True, "problems": []}
    fail(client.get(f"{TEMPLATES}/{good['name']}"), 404)


def test_validate_reports_a_body_that_is_no_template(client: httpx.Client) -> None:
    result = ok(client.post(f"{TEMPLATES}/validate", json=[1]))
    assert result["valid"] is False
    assert len(result["problems"]) == 1
    framework = small_template(framework="Caffe")
    (problem,) = ok(client.post(f"{TEMPLATES}/validate", json=framework))["problems"]
    assert problem["path"] == "experimentSpec.meta.framework"
    # GET on the path is the template named "validate", which none can be
    fail(client.get(f"{TEMPLATES}/validate"), 404, "ExperimentTemplate not found.")


def test_an_unknown_template_is_looked_up_after_the_body_is_read(client: httpx.Client) -> None:
    # As on 0.8.0: a null body fails first, then the lookup, then a missing params.
    route = f"{SUBMIT}/no-such-template"
    null = client.post(route, content=b"null", headers={"content-type": "application/json"})
    assert fail(null, 400).startswith("the request body is null")
    fail(client.post(route, json={}), 404, "ExperimentTemplate not found.")

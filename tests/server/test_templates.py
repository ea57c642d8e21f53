"""The template API over raw HTTP against a real local server: create, list, get, patch and
delete, answered as Submarine 0.8.0 answers them, and every error of create and patch
(submit, preview and validate: :mod:`tests.server.test_templates_submit`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.support import unique_name

from .api_support import ENVELOPE_KEYS, fail, ok
from .template_support import (
    NOT_FOUND,
    SUBMIT,
    TEMPLATES,
    create_template,
    derived_get_answer,
    made,
    mnist_template,
    small_template,
    spec_of,
)

UNABLE = "Unable to insert or update the experimentTemplate spec: "


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as http:
        yield http


def names(client: httpx.Client) -> list[str]:
    return [t["experimentTemplateSpec"]["name"] for t in ok(client.get(TEMPLATES))]


# -- answers ------------------------------------------------------------------------------


def test_create_answers_the_template_with_an_id_and_the_made_parameters(
    client: httpx.Client,
) -> None:
    template = mnist_template()
    response = client.post(TEMPLATES, json=template)
    result = ok(response)
    assert list(response.json()) == ENVELOPE_KEYS
    assert list(result) == ["experimentTemplateId", "experimentTemplateSpec"]
    made_id = result["experimentTemplateId"]
    assert list(made_id) == ["id", "serverTimestamp"]
    assert isinstance(made_id["id"], int)
    assert made_id["serverTimestamp"] > 1_600_000_000_000
    spec = result["experimentTemplateSpec"]
    assert list(spec) == ["name", "author", "description", "parameters", "experimentSpec"]
    # 0.1, 150, false and true as 0.8.0 stores them: text; then each role's three, in order.
    assert [(p["name"], p["required"], p["value"]) for p in spec["parameters"]] == [
        ("learning_rate", "false", "0.1"),
        ("batch_size", "false", "150"),
        ("experiment_name", "true", "tf-mnist-test_1"),
        *((p["name"], "false", p["value"]) for p in made("Ps", "1", "1", "1024M")),
        *((p["name"], "false", p["value"]) for p in made("Worker", "1", "1", "1024M")),
    ]
    assert spec == derived_get_answer(template["name"])["result"]["experimentTemplateSpec"]


def test_get_answers_0_8_0s_derived_answer(client: httpx.Client) -> None:
    template = mnist_template()
    create_template(client, template)
    response = client.get(f"{TEMPLATES}/{template['name']}")
    assert response.json() == derived_get_answer(template["name"])


def test_the_id_is_only_in_create_and_patch_answers(client: httpx.Client) -> None:
    template = small_template()
    name = template["name"]
    created = create_template(client, template)["experimentTemplateId"]
    patched = ok(client.patch(f"{TEMPLATES}/{name}", json=template))["experimentTemplateId"]
    assert patched["id"] > created["id"]
    assert patched["serverTimestamp"] == created["serverTimestamp"]
    assert ok(client.get(f"{TEMPLATES}/{name}"))["experimentTemplateId"] is None
    listed = [t for t in ok(client.get(TEMPLATES)) if t["experimentTemplateSpec"]["name"] == name]
    assert [t["experimentTemplateId"] for t in listed] == [None]
    assert ok(client.delete(f"{TEMPLATES}/{name}"))["experimentTemplateId"] is None


def test_the_list_is_in_creation_order_and_a_patch_keeps_the_place(
    client: httpx.Client,
) -> None:
    mine = [unique_name("order") for _ in range(3)]
    for name in mine:
        create_template(client, small_template(name))
    patch = small_template(mine[0])
    patch["description"] = "patched"
    ok(client.patch(f"{TEMPLATES}/{mine[0]}", json=patch))
    # ?status= is ignored, as on 0.8.0
    for query in ({}, {"status": "running"}):
        listed = [t for t in ok(client.get(TEMPLATES, params=query)) if t is not None]
        order = [t["experimentTemplateSpec"]["name"] for t in listed]
        assert [n for n in order if n in mine] == mine
    assert spec_of(client, mine[0])["description"] == "patched"


def test_delete_answers_the_deleted_template_and_forgets_it(client: httpx.Client) -> None:
    template = small_template()
    name = template["name"]
    stored = create_template(client, template)["experimentTemplateSpec"]
    deleted = ok(client.delete(f"{TEMPLATES}/{name}"))
    assert deleted == {"experimentTemplateId": None, "experimentTemplateSpec": stored}
    assert name not in names(client)
    fail(client.get(f"{TEMPLATES}/{name}"), 404, NOT_FOUND)
    fail(client.delete(f"{TEMPLATES}/{name}"), 404, NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"{TEMPLATES}/no-such-template", None),
        ("PATCH", f"{TEMPLATES}/no-such-template", small_template("no-such-template")),
        ("DELETE", f"{TEMPLATES}/no-such-template", None),
        ("POST", f"{SUBMIT}/no-such-template", {"params": {}}),
        ("POST", f"{TEMPLATES}/no-such-template/preview", {"params": {}}),
    ],
)
def test_an_unknown_template_is_0_8_0s_404(
    client: httpx.Client, method: str, path: str, body: Any
) -> None:
    fail(client.request(method, path, json=body), 404, NOT_FOUND)


# -- what is stored -----------------------------------------------------------------------


def test_the_stored_spec_has_each_roles_resource_map_and_the_servers_namespace(
    client: httpx.Client,
) -> None:
    template = small_template(namespace="team-a")
    template["experimentSpec"]["spec"]["Ps"] = {"replicas": 1, "resources": "memory=64M,cpu=1"}
    spec = create_template(client, template)["experimentTemplateSpec"]["experimentSpec"]
    assert spec["meta"]["namespace"] == "default"
    assert spec["spec"]["Ps"]["resourceMap"] == {"memory": "64M", "cpu": "1"}
    assert spec["spec"]["Worker"]["resourceMap"] == {"cpu": "100m", "memory": "64M"}
    assert spec["spec"]["Ps"]["resources"] == "memory=64M,cpu=1"


def test_made_parameters_default_a_missing_replica_count_and_cpu_to_1(
    client: httpx.Client,
) -> None:
    template = small_template()
    template["experimentSpec"]["spec"] = {
        "Worker": {"resources": "memory=64M"},
        "Ps": {"replicas": 2, "resources": "cpu=100m,memory=32M"},
    }
    spec = create_template(client, template)["experimentTemplateSpec"]
    assert spec["parameters"][1:] == made("Worker", "1", "1", "64M") + made(
        "Ps", "2", "100m", "32M"
    )


def test_the_parameters_may_come_under_0_8_0s_second_name(client: httpx.Client) -> None:
    template = small_template()
    template["experimentTemplateParamSpec"] = template.pop("parameters")
    spec = create_template(client, template)["experimentTemplateSpec"]
    assert spec["parameters"][0] == {
        "name": "lr",
        "required": None,
        "description": None,
        "value": "0.1",
    }


def test_a_yaml_body_is_read(client: httpx.Client) -> None:
    template = small_template()
    response = client.post(
        TEMPLATES, content=yaml.safe_dump(template), headers={"content-type": "application/yaml"}
    )
    assert ok(response)["experimentTemplateSpec"]["name"] == template["name"]


# -- create errors ------------------------------------------------------------------------


def test_a_taken_name_is_a_400_naming_it(client: httpx.Client) -> None:
    template = small_template()
    create_template(client, template)
    again = dict(template, description="second")
    message = fail(client.post(TEMPLATES, json=again), 400)
    assert message.startswith(UNABLE)
    assert f"'{template['name']}' already exists" in message
    assert spec_of(client, template["name"])["description"] is None


def test_a_null_body_is_0_8_0s_invalid_spec(client: httpx.Client) -> None:
    null = client.post(TEMPLATES, content=b"null", headers={"content-type": "application/json"})
    fail(null, 400, "Invalid experimentTemplate spec.")
    listed = fail(client.post(TEMPLATES, json=[small_template()]), 400)
    assert listed.startswith("Invalid experimentTemplate spec. The body is a list")
    empty = fail(client.post(TEMPLATES, headers={"content-type": "application/json"}), 400)
    assert empty == "the request body is empty: send an experiment template"


@pytest.mark.parametrize(
    ("drop", "said"),
    [
        (("experimentSpec",), "experimentSpec: is required"),
        (("experimentSpec", "spec"), "experimentSpec.spec: is required"),
        (("name",), "name: is required"),
    ],
)
def test_a_missing_part_is_a_400_that_names_it(
    client: httpx.Client, drop: tuple[str, ...], said: str
) -> None:
    template = small_template()
    parent: Any = template
    for key in drop[:-1]:
        parent = parent[key]
    del parent[drop[-1]]
    assert said in fail(client.post(TEMPLATES, json=template), 400)


def test_an_unused_parameter_is_0_8_0s_400_and_nothing_is_stored(client: httpx.Client) -> None:
    template = small_template()
    template["parameters"] += [{"name": "zz", "value": "1"}, {"name": "aa", "value": "2"}]
    fail(client.post(TEMPLATES, json=template), 400, "Parameters contains unused key: [aa, zz]")
    fail(client.get(f"{TEMPLATES}/{template['name']}"), 404, NOT_FOUND)


def test_an_unmapped_placeholder_is_0_8_0s_400_and_nothing_is_stored(
    client: httpx.Client,
) -> None:
    template = small_template(cmd="python train.py {{lr}} {{nope}} {{other}}")
    template["experimentSpec"]["meta"]["envVars"] = {"MODE": "{{mode}}"}
    fail(
        client.post(TEMPLATES, json=template),
        400,
        "Template contains unmapped value: [meta.cmd:nope, meta.cmd:other, meta.envVars.MODE:mode]",
    )
    fail(client.get(f"{TEMPLATES}/{template['name']}"), 404, NOT_FOUND)


def test_the_dry_run_comes_before_the_models_judge_the_rest(client: httpx.Client) -> None:
    template = small_template(framework="Caffe")
    template["parameters"].append({"name": "zz", "value": "1"})
    fail(client.post(TEMPLATES, json=template), 400, "Parameters contains unused key: [zz]")
    # and an unused key is said before an unmapped value, as on 0.8.0
    template["experimentSpec"]["meta"]["cmd"] += " {{nope}}"
    fail(client.post(TEMPLATES, json=template), 400, "Parameters contains unused key: [zz]")
    del template["parameters"][-1]
    message = "Template contains unmapped value: [meta.cmd:nope]"
    fail(client.post(TEMPLATES, json=template), 400, message)


def test_every_other_problem_is_one_400_with_its_path(client: httpx.Client) -> None:
    template = small_template(framework="Caffe")
    template["parameters"].append({"name": "n", "value": "2"})
    template["experimentSpec"]["spec"]["Worker"]["replicas"] = "{{n}}"
    message = fail(client.post(TEMPLATES, json=template), 400)
    assert "experimentSpec.spec.Worker.replicas: '{{n}}': placeholders work only in" in message
    assert "parameterise a number or boolean by its path" in message
    template["experimentSpec"]["spec"]["Worker"]["replicas"] = 1
    template["parameters"].pop()
    message = fail(client.post(TEMPLATES, json=template), 400)
    assert message.startswith("experimentSpec.meta.framework: ")
    assert "Caffe" in message
    assert "(with the parameters' defaults filled in)" in message
    fail(client.get(f"{TEMPLATES}/{template['name']}"), 404, NOT_FOUND)


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("x" * 33, "is 33 characters long: at most 32"),
        ("validate", "'validate' is taken by the experiment API"),
        ("", "name is empty"),
    ],
)
def test_name_rules(client: httpx.Client, name: str, said: str) -> None:
    template = small_template()
    template["name"] = name
    message = fail(client.post(TEMPLATES, json=template), 400)
    assert message.startswith("name: ")
    assert said in message


def test_a_name_of_32_characters_is_fine(client: httpx.Client) -> None:
    name = unique_name("n").ljust(32, "x")
    assert create_template(client, small_template(name))["experimentTemplateSpec"]["name"] == name
    assert spec_of(client, name)["name"] == name


# -- patch --------------------------------------------------------------------------------


def test_patch_replaces_the_template_and_makes_the_made_parameters_again(
    client: httpx.Client,
) -> None:
    template = small_template()
    name = template["name"]
    create_template(client, template)
    # The GET answer sent back as it is, the replica count changed: one of each made
    # parameter, with the new value (0.8.0 would append a second copy).
    answer = spec_of(client, name)
    answer["experimentSpec"]["spec"]["Worker"]["replicas"] = 3
    answer["author"] = "someone else"
    patched = ok(client.patch(f"{TEMPLATES}/{name}", json=answer))["experimentTemplateSpec"]
    assert patched["parameters"] == [
        {"name": "lr", "required": None, "description": None, "value": "0.1"},
        *made("Worker", "3", "100m", "64M"),
    ]
    assert patched == spec_of(client, name)
    assert patched["author"] == "someone else"


def test_patch_follows_the_path_and_refuses_a_body_naming_another(client: httpx.Client) -> None:
    first, second = small_template(), small_template()
    for template in (first, second):
        create_template(client, template)
    body = dict(second, description="meant for the first")
    message = fail(client.patch(f"{TEMPLATES}/{first['name']}", json=body), 400)
    assert f"'{first['name']}'" in message
    assert f"'{second['name']}'" in message
    for template in (first, second):
        assert spec_of(client, template["name"])["description"] is None
    nameless = {k: v for k, v in first.items() if k != "name"}
    nameless["description"] = "no name in the body"
    ok(client.patch(f"{TEMPLATES}/{first['name']}", json=nameless))
    assert spec_of(client, first["name"])["description"] == "no name in the body"


def test_patch_is_judged_as_create(client: httpx.Client) -> None:
    template = small_template()
    name = template["name"]
    create_template(client, template)
    unused = json.loads(json.dumps(template))
    unused["parameters"].append({"name": "zz", "value": "1"})
    fail(
        client.patch(f"{TEMPLATES}/{name}", json=unused),
        400,
        "Parameters contains unused key: [zz]",
    )
    bad = json.loads(json.dumps(template))
    bad["experimentSpec"]["meta"]["framework"] = "Caffe"
    assert "experimentSpec.meta.framework" in fail(
        client.patch(f"{TEMPLATES}/{name}", json=bad), 400
    )
    null = client.patch(
        f"{TEMPLATES}/{name}", content=b"null", headers={"content-type": "application/json"}
    )
    fail(null, 400, "Invalid experimentTemplate spec.")
    assert spec_of(client, name)["parameters"][0]["name"] == "lr"
    assert len(spec_of(client, name)["parameters"]) == 4

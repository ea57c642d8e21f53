"""Templates on servers of their own: kept across a restart, behind the same guards and
token as experiments, and the example templates a fresh data dir offers, run to the end."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.support import wait_until

from .api_support import API, fail, ok, wait_status
from .template_support import SUBMIT, TEMPLATES, create_template, small_template, spec_of

TOKEN = "s3cret-token-of-the-templates"
EXAMPLES = ["sgd-regression", "sgd-classifier"]


def template_routes(name: str) -> list[tuple[str, str, Any]]:
    """Every template route: method, path, JSON body."""
    return [
        ("GET", TEMPLATES, None),
        ("POST", TEMPLATES, small_template()),
        ("POST", f"{TEMPLATES}/validate", small_template()),
        ("GET", f"{TEMPLATES}/{name}", None),
        ("PATCH", f"{TEMPLATES}/{name}", small_template(name)),
        ("POST", f"{TEMPLATES}/{name}/preview", {"params": {}}),
        ("POST", f"{SUBMIT}/{name}", {"params": {}}),
        ("DELETE", f"{TEMPLATES}/{name}", None),
    ]


def test_every_template_route_needs_the_token(server_factory: ServerFactory) -> None:
    server = server_factory.start("--token", TOKEN)
    good = {"Authorization": f"Bearer {TOKEN}"}
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        httpx.Client(base_url=server.url, timeout=30, headers=good) as authed,
    ):
        template = small_template()
        create_template(authed, template)
        for method, path, body in template_routes(template["name"]):
            for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}):
                response = client.request(method, path, json=body, headers=headers)
                fail(response, 401, "The token is not valid.")
        assert spec_of(authed, template["name"])["name"] == template["name"]
        for method, path, body in template_routes(template["name"]):
            response = authed.request(method, path, json=body)
            assert response.status_code == 200, (method, path, response.text)


def test_a_cross_site_request_is_refused_before_the_template_api(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start("--no-auth")
    browser = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        template = small_template()
        fail(client.post(TEMPLATES, json=template, headers=browser), 403)
        fail(client.post(f"{SUBMIT}/sgd-regression", json={"params": {}}, headers=browser), 403)
        fail(client.get(f"{TEMPLATES}/{template['name']}"), 404)
        assert ok(client.get(API)) == []


def test_templates_survive_a_restart(server_factory: ServerFactory) -> None:
    server = server_factory.start("--no-auth")
    template = small_template()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = create_template(client, template)
        before = ok(client.get(TEMPLATES))
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert ok(client.get(TEMPLATES)) == before
        assert spec_of(client, template["name"]) == created["experimentTemplateSpec"]
        # still one of each name
        fail(client.post(TEMPLATES, json=template), 400)
        experiment = ok(client.post(f"{SUBMIT}/{template['name']}", json={"params": {"lr": 3}}))
        assert experiment["spec"]["meta"]["cmd"] == "python -c \"print('lr=3')\""


def test_a_fresh_data_dir_offers_the_examples_and_they_run(server_factory: ServerFactory) -> None:
    server = server_factory.start("--no-auth", "--cpus", "2")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        listed = ok(client.get(TEMPLATES))
        assert [t["experimentTemplateSpec"]["name"] for t in listed] == EXAMPLES
        params = {"epochs": 3, "step_time": 0, "learning_rate": 0.2, "experiment_name": "Seeded"}
        experiment = ok(client.post(f"{SUBMIT}/sgd-classifier", json={"params": params}))
        cmd = experiment["spec"]["meta"]["cmd"]
        assert "--task classification --learning-rate 0.2 --epochs 3" in cmd
        assert experiment["spec"]["spec"]["Worker"]["replicas"] == 2
        experiment_id = experiment["experimentId"]
        done = wait_status(client, experiment_id, {"Succeeded", "Failed"})
        log = ok(client.get(f"{API}/logs/{experiment_id}"))
        assert done["status"] == "Succeeded", log
        assert done["spec"]["meta"]["name"] == "seeded"
        for pod in log["logContent"]:
            assert pod["podLog"][-2].startswith("epoch 3 loss ")

        def accuracies() -> list[dict[str, Any]] | None:
            found = ok(
                client.get(
                    "/api/metric/list", params={"id": experiment_id, "metricKey": "accuracy"}
                )
            )
            return found if len(found) == 6 else None

        records = wait_until(accuracies, what="three accuracies of each worker")
        assert sorted({(r["workerIndex"], r["step"]) for r in records}) == [
            (worker, step) for worker in ("worker-0", "worker-1") for step in (1, 2, 3)
        ]
        assert all(0.5 < r["value"] <= 1.0 for r in records)
        params_logged = ok(client.get("/api/param/list", params={"id": experiment_id}))
        assert {"key": "learning_rate", "value": "0.2"}.items() <= next(
            p for p in params_logged if p["key"] == "learning_rate"
        ).items()


def test_the_regression_example_runs_with_its_defaults_and_fails_when_it_diverges(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start("--no-auth")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        preview = ok(client.post(f"{TEMPLATES}/sgd-regression/preview", json={"params": {}}))
        assert "--learning-rate 0.05 --epochs 20 --batch-size 16" in preview["meta"]["cmd"]
        diverging = {"learning_rate": 5, "step_time": 0, "epochs": 30}
        experiment = ok(client.post(f"{SUBMIT}/sgd-regression", json={"params": diverging}))
        done = wait_status(client, experiment["experimentId"], {"Succeeded", "Failed"})
        assert done["status"] == "Failed"
        (pod,) = ok(client.get(f"{API}/logs/{experiment['experimentId']}"))["logContent"]
        assert any("the loss diverged" in line for line in pod["podLog"])


def test_a_deleted_example_stays_deleted(server_factory: ServerFactory) -> None:
    server = server_factory.start("--no-auth")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        ok(client.delete(f"{TEMPLATES}/sgd-regression"))
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        names = [t["experimentTemplateSpec"]["name"] for t in ok(client.get(TEMPLATES))]
        assert names == ["sgd-classifier"]


def test_a_gpu_of_a_role_stays_in_its_resources_when_cpu_and_memory_are_filled(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start("--no-auth", "--gpus", "1")
    template = small_template()
    worker = template["experimentSpec"]["spec"]["Worker"]
    worker["resources"] = "cpu=100m,memory=64M,nvidia.com/gpu=1"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        stored = create_template(client, template)["experimentTemplateSpec"]
        resource_map = stored["experimentSpec"]["spec"]["Worker"]["resourceMap"]
        assert resource_map == {"cpu": "100m", "memory": "64M", "nvidia.com/gpu": "1"}
        assert [p["name"] for p in stored["parameters"]][1:] == [
            "spec.Worker.replicas",
            "spec.Worker.resourceMap.cpu",
            "spec.Worker.resourceMap.memory",
        ]
        params = {"spec.Worker.resourceMap.memory": "32M"}
        spec = ok(client.post(f"{TEMPLATES}/{template['name']}/preview", json={"params": params}))
        assert spec["spec"]["Worker"]["resources"] == "cpu=100m,memory=32M,nvidia.com/gpu=1"


def test_git_credentials_of_a_template_are_kept_but_never_shown(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start("--no-auth")
    secret_url = "https://ada:url-secret@127.0.0.1:9/repo.git"
    template = small_template()
    template["experimentSpec"]["code"] = {
        "syncMode": "git",
        "git": {"url": secret_url, "username": "ada", "password": "field-secret"},
    }
    name = template["name"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = create_template(client, template)["experimentTemplateSpec"]
        answer = spec_of(client, name)
        assert answer == created
        assert answer["experimentSpec"]["code"]["git"] == {
            "url": "https://127.0.0.1:9/repo.git",
            "branch": "main",
            "username": "ada",
            "password": None,
            "trustCerts": None,
        }
        answer["description"] = "patched as shown"
        ok(client.patch(f"{TEMPLATES}/{name}", json=answer))
        shown = client.get(TEMPLATES).text + client.get(f"{TEMPLATES}/{name}").text
        shown += client.post(f"{TEMPLATES}/{name}/preview", json={"params": {}}).text
        assert "secret" not in shown
        experiment = ok(client.post(f"{SUBMIT}/{name}", json={"params": {}}))
    with sqlite3.connect(str(server.data_dir / "submarine.db")) as db:
        (kept,) = db.execute("SELECT template FROM templates WHERE name = ?", (name,)).fetchone()
        (made,) = db.execute(
            "SELECT spec FROM experiments WHERE experiment_id = ?", (experiment["experimentId"],)
        ).fetchone()
    for stored in (json.loads(kept)["experimentSpec"], json.loads(made)):
        git = stored["code"]["git"]
        assert (git["url"], git["password"]) == (secret_url, "field-secret")
    assert json.loads(kept)["description"] == "patched as shown"

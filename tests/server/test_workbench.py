"""The workbench's server side: the page and its files, the validate endpoint, and who may
call what when a token is configured."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from submarine.server.tracking.routes import Tracking, tracking_for
from submarine.tracking import worker_index
from tests.support import make_spec

from .api_support import API, create, fail, ok

TOKEN = "page-token-1-of-the-workbench"


def test_the_page_and_its_files_are_served_with_a_strict_policy(server: Any) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script src="/workbench.js" defer></script>' in page.text
    for path, media in (
        ("/workbench.js", "text/javascript"),
        ("/workbench-views.js", "text/javascript"),
        ("/workbench-new.js", "text/javascript"),
        ("/workbench-templates.js", "text/javascript"),
        ("/workbench-run.js", "text/javascript"),
        ("/workbench-artifacts.js", "text/javascript"),
        ("/workbench.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
        ("/workbench-logs.js", "text/javascript"),
        ("/workbench-list.js", "text/javascript"),
    ):
        answer = httpx.get(f"{server.url}{path}")
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(media)


def test_validate_answers_every_problem_with_its_path(server: Any) -> None:
    spec = make_spec(resources="cpu=1,memory=1.5G")
    spec["meta"]["name"] = ""
    spec["spec"]["Worker"]["replicas"] = "many"
    with httpx.Client(base_url=server.url) as http:
        before = len(ok(http.get(API)))
        result = ok(http.post(f"{API}/validate", json=spec))
        assert result["valid"] is False
        paths = {problem["path"] for problem in result["problems"]}
        assert {"meta.name", "spec.Worker.resources", "spec.Worker.replicas"} <= paths
        for problem in result["problems"]:
            assert problem["loc"] == problem["path"].split(".")
            assert problem["message"]
        assert len(ok(http.get(API))) == before  # nothing was created


def test_validate_reads_yaml_and_accepts_a_good_spec(server: Any) -> None:
    text = (
        "meta:\n  name: fine\n  framework: PyTorch\n  cmd: python train.py\n"
        "environment:\n  image: local\n"
        "spec:\n  Master:\n    replicas: 1\n    resources: cpu=100m,memory=64M\n"
    )
    with httpx.Client(base_url=server.url) as http:
        answer = http.post(
            f"{API}/validate", content=text, headers={"Content-Type": "application/yaml"}
        )
        assert ok(answer) == {"valid": True, "problems": []}
        bad = text.replace("Master:", "Ps:")
        result = ok(
            http.post(f"{API}/validate", content=bad, headers={"Content-Type": "application/yaml"})
        )
        assert result["valid"] is False
        assert any(p["path"].startswith("spec") for p in result["problems"])


def test_validate_says_when_the_machine_can_never_run_it(server: Any) -> None:
    spec = make_spec(resources="cpu=100000,memory=64M")
    result = ok(httpx.post(f"{server.url}{API}/validate", json=spec))
    assert result["valid"] is False
    (problem,) = result["problems"]
    assert problem["path"] == "spec"
    assert "can never run on this server" in problem["message"]


def test_with_a_token_the_page_is_open_and_the_data_is_not(server_factory: Any) -> None:
    server = server_factory.start("--token", TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in (
        "/",
        "/workbench.js",
        "/workbench-views.js",
        "/workbench-new.js",
        "/workbench-templates.js",
        "/workbench-run.js",
        "/workbench-artifacts.js",
        "/workbench.css",
        "/favicon.svg",
        "/workbench-logs.js",
        "/workbench-list.js",
    ):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path
    with httpx.Client(base_url=server.url) as anonymous:
        fail(anonymous.post(f"{API}/validate", json=make_spec()), 401)
        fail(anonymous.post("/api/metric/selective", json={"id": "x"}), 401)
        fail(anonymous.get("/api/param/list", params={"id": "x"}), 401)
    with httpx.Client(base_url=server.url, headers=auth) as http:
        experiment_id = create(http, make_spec())["experimentId"]
        fail(
            httpx.post(
                f"{server.url}/api/metric/add", json={"id": experiment_id, "key": "a", "value": 1}
            ),
            401,
        )
        ok(http.post(f"{API}/validate", json=make_spec()))
        assert ok(http.post("/api/metric/selective", json={"id": experiment_id})) == []


def test_a_credential_is_per_experiment_and_per_server(tmp_path: Any) -> None:
    one = Tracking(tmp_path / "a.db", None, "http://127.0.0.1:1")
    other = Tracking(tmp_path / "b.db", None, "http://127.0.0.1:1")
    first = one.credential("experiment-1-0001")
    assert first != one.credential("experiment-1-0002")
    assert first != other.credential("experiment-1-0001")
    env = one.replica_env("experiment-1-0001")
    assert env == {
        "SUBMARINE_TRACKING_URI": "http://127.0.0.1:1",
        "SUBMARINE_TRACKING_TOKEN": first,
    }
    assert Tracking(tmp_path / "c.db", None).replica_env("experiment-1-0001") == {}


@pytest.mark.parametrize(
    ("host", "port", "address"),
    [
        ("127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),
        ("::1", 8080, "http://[::1]:8080"),
        ("127.0.0.1", 0, None),
    ],
)
def test_the_address_replicas_get(tmp_path: Any, host: str, port: int, address: str | None) -> None:
    assert tracking_for(tmp_path / "t.db", None, host, port).address == address


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TF_CONFIG": '{"task": {"type": "worker", "index": 1}}'}, "worker-1"),
        ({"TF_CONFIG": '{"task": {"type": "chief", "index": 0}}', "RANK": "3"}, "chief-0"),
        ({"TF_CONFIG": "not json", "RANK": "2"}, "worker-2"),
        ({"RANK": "0"}, "master-0"),
        ({}, "worker-0"),
    ],
)
def test_the_worker_index_follows_submarine(env: dict[str, str], expected: str) -> None:
    assert worker_index(env) == expected

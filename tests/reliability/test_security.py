"""Who may call: every route needs the token when one is set (but ping and the token
route), and the server refuses a non-loopback bind without a token.

The routes are enumerated from the app's own route table, so a route added later is in
this table without anyone remembering to add it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from submarine.client import AuthenticationError, ExperimentClient
from submarine.server.api.experiments import OPEN_PATHS
from submarine.server.app import create_app
from submarine.server.settings import Settings
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec

from .conftest import Figures

pytestmark = pytest.mark.reliability

TOKEN = "s3cret-token-for-tests"
USER, PASSWORD = "alice", "wonderland-pw"
SAMPLE_ID = "experiment-1700000000000-0001"
EXPECTED_OPEN = {"/api/v1/experiment/ping", "/api/auth/token"}
PAGE = {
    "/",
    "/workbench.js",
    "/workbench-views.js",
    "/workbench-new.js",
    "/workbench-artifacts.js",
    "/workbench-templates.js",
    "/workbench-run.js",
    "/workbench.css",
    "/favicon.svg",
    "/workbench-logs.js",
    "/workbench-list.js",
}
"""The workbench page's files: they hold no data, and the page must load to ask for a token."""
TRACKING_ADD = {"/api/metric/add", "/api/param/add"}
"""Replicas add metrics with a per-experiment credential, which these routes check themselves
(tests/server/test_tracking.py)."""


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every route of the app, HEAD included."""
    settings = Settings(data_dir=Path(tempfile.gettempdir()) / "never-opened", token=TOKEN)
    table = []
    for route in create_app(settings).routes:
        assert isinstance(route, Route), f"a route of an unknown kind: {route!r}"
        for method in sorted(route.methods or ()):
            table.append((method, route.path))
    return table


ROUTES = _routes()


def _concrete(template: str) -> str:
    return re.sub(r"\{id(:path)?\}", SAMPLE_ID, template)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("guarded"))
    try:
        yield factory.start("--token", TOKEN, "--username", USER, "--password", PASSWORD)
    finally:
        factory.close()


@pytest.fixture(scope="module")
def experiment_id(guarded: RunningServer) -> str:
    with ExperimentClient(guarded.url, token=TOKEN) as client:
        return client.create_experiment(make_spec(name="guarded", cmd="echo hello")).experiment_id


def test_the_route_table_is_what_this_suite_expects() -> None:
    paths = {path for _, path in ROUTES}
    assert len(paths) >= 7
    assert {"/api/v1/experiment", "/api/auth/token", "/api/v1/experiment/{id}/log-stream"} <= paths
    assert set(OPEN_PATHS) == EXPECTED_OPEN
    assert paths >= PAGE | TRACKING_ADD


BAD_CREDENTIALS = {
    "none": {},
    "wrong token": {"Authorization": "Bearer not-the-token"},
    "token prefix": {"Authorization": f"Bearer {TOKEN[:-1]}"},
    "token with suffix": {"Authorization": f"Bearer {TOKEN}x"},
    "basic scheme": {"Authorization": f"Basic {TOKEN}"},
    "no scheme": {"Authorization": TOKEN},
    "bearer alone": {"Authorization": "Bearer"},
    "token in another header": {"X-Auth-Token": TOKEN},
}


@pytest.mark.slow
@pytest.mark.bounded
@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_route_needs_the_token(
    guarded: RunningServer, experiment_id: str, figures: Figures, method: str, template: str
) -> None:
    path = template.replace("{id}", experiment_id).replace("{id:path}", experiment_id)
    url = guarded.url + path
    body = b'{"username": "alice", "password": "wonderland-pw"}'
    if template == "/api/auth/token":
        headers_ok = {"Content-Type": "application/json"}
    else:
        body = b""  # no body: a route must refuse before looking at one
        headers_ok = {"Authorization": f"Bearer {TOKEN}"}
    before = httpx.get(
        f"{guarded.url}/api/v1/experiment", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    count = len(before.json()["result"])
    for label, headers in BAD_CREDENTIALS.items():
        answer = httpx.request(method, url, headers=headers, content=body or None, timeout=30)
        figures.add("security: requests with bad credentials")
        if path in TRACKING_ADD:  # they check a replica's credential, from the headers
            assert answer.status_code == 401, f"{method} {path} with {label}"
            continue
        if path in EXPECTED_OPEN | PAGE:
            assert answer.status_code != 401 or template == "/api/auth/token", label
            continue
        assert answer.status_code == 401, f"{method} {path} with {label}: {answer.status_code}"
        if method != "HEAD":
            assert answer.json()["message"] == "The token is not valid."
        assert answer.headers.get("www-authenticate", "").lower().startswith("bearer")
    answer = httpx.request(method, url, headers=headers_ok, content=body or None, timeout=30)
    assert answer.status_code != 401, f"{method} {path} refused the right credentials"
    after = httpx.get(
        f"{guarded.url}/api/v1/experiment", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert len(after.json()["result"]) <= count, "an unauthenticated request stored something"


@pytest.mark.slow
@pytest.mark.bounded
@pytest.mark.parametrize(
    "path",
    ["/index.html", "/api", "/api/v1/other", "/api/v1/experiment/ping/", "//api/auth/token"],
)
def test_paths_that_are_no_route_need_the_token_too(guarded: RunningServer, path: str) -> None:
    answer = httpx.get(guarded.url + path, timeout=30)
    assert answer.status_code == 401


@pytest.mark.slow
@pytest.mark.bounded
def test_the_token_route_hands_out_the_token_for_the_right_password_only(
    guarded: RunningServer,
) -> None:
    url = f"{guarded.url}/api/auth/token"
    good = httpx.post(url, json={"username": USER, "password": PASSWORD})
    assert good.json()["result"] == TOKEN
    for username, password in [
        (USER, "wrong"),
        ("bob", PASSWORD),
        (USER, PASSWORD[:-1]),
        (USER, ""),
    ]:
        bad = httpx.post(url, json={"username": username, "password": password})
        assert bad.status_code == 401
        assert TOKEN not in bad.text
    with (
        ExperimentClient(guarded.url, username=USER, password="wrong") as client,
        pytest.raises(AuthenticationError),
    ):
        client.list_experiments()


@pytest.mark.slow
@pytest.mark.bounded
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_non_loopback_bind_without_a_token_is_refused(tmp_path: Path, host: str) -> None:
    command = [sys.executable, "-m", "submarine.server", "--host", host, "--port", "0"]
    command += ["--data-dir", str(tmp_path / "data")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired as exc:  # it served: the protection is gone
        raise AssertionError(f"the server started on {host} without a token") from exc
    assert done.returncode == 2
    assert f"refusing to listen on {host}" in done.stderr
    assert "--token" in done.stderr
    assert "Submarine local server listening" not in done.stderr
    assert not (tmp_path / "data" / "submarine.db").exists(), "it opened the store first"


@pytest.mark.bounded
def test_a_loopback_bind_needs_no_token(server_factory: ServerFactory) -> None:
    server = server_factory.start()
    assert httpx.get(f"{server.url}/api/v1/experiment").status_code == 200

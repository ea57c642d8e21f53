"""Closed by default, with nothing to configure for its own user (issue 20, HIGH).

The attack: the default server (loopback, no token) took every request of every process of
the machine. Another local user (``nobody``) created an experiment whose command ran as the
server's user, and read the git passwords of the database through a pod log.

Now, without a token given, the server generates one (kept in the data dir) and needs it
everywhere but ping; its own user's loopback requests pass without it, and its clients find
it by themselves in a discovery file of exactly the address they call. Each test below plays
the attack, or what its owner does, against real servers over real HTTP; the other user is
a standard-library script run as ``nobody``.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from submarine._rundir import read_discovery, write_discovery
from submarine.client import ExperimentClient
from submarine.server.app import create_app
from submarine.server.settings import Settings
from tests.as_nobody import NOBODY, needs_nobody, nobody_command, start_as_nobody
from tests.conftest import ServerFactory
from tests.support import make_spec, wait_until

from .conftest import Figures, descendants, python_cmd, stored_names

pytestmark = [pytest.mark.reliability, pytest.mark.bounded, pytest.mark.slow]

SAMPLE_ID = "experiment-1700000000000-0001"
PAGE = {"/", "/workbench.js", "/workbench-views.js", "/workbench-new.js", "/workbench.css"}
PAGE |= {"/favicon.svg", "/workbench-artifacts.js", "/workbench-templates.js", "/workbench-run.js"}
PAGE |= {"/workbench-logs.js", "/workbench-list.js"}
OPEN = {"/api/v1/experiment/ping"}
CLIENT = """
import http.client, json, sys
from urllib.parse import urlsplit
base = urlsplit(sys.argv[1])
answers = []
for method, path, headers, body in json.loads(sys.stdin.read()):
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
    connection.request(method, path, body=body.encode() if body else None, headers=headers)
    response = connection.getresponse()
    answers.append([response.status, response.read().decode("utf-8", "replace")[:300]])
    connection.close()
print(json.dumps(answers))
"""
"""What ``nobody`` runs: each request of a JSON list on stdin, in its own connection; prints
[status, start of the body] of each."""


def _as_nobody(url: str, requests: list[tuple[str, str, dict[str, str], str]]) -> list[Any]:
    done = subprocess.run(
        nobody_command(CLIENT, url), input=json.dumps(requests), capture_output=True,
        text=True, timeout=120, check=False, cwd="/", env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers: list[Any] = json.loads(done.stdout)
    return answers


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the app, HEAD included, ids filled in."""
    settings = Settings(data_dir=Path(tempfile.gettempdir()) / "never-opened", token="x" * 16)
    table = []
    for route in create_app(settings).routes:
        assert isinstance(route, Route), route
        path = re.sub(r"\{id(:path)?\}", SAMPLE_ID, route.path)
        table.extend((method, path) for method in sorted(route.methods or ()))
    return table


def _body(method: str, path: str, marker: Path) -> tuple[dict[str, str], str]:
    """A request body that would do harm if it were let in."""
    if method not in ("POST", "PATCH", "PUT"):
        return {}, ""
    json_type = {"Content-Type": "application/json"}
    if path.endswith("/add"):
        record = {"id": SAMPLE_ID, "key": "loss", "value": 1.0, "workerIndex": "worker-0"}
        return json_type, json.dumps(record)
    if path == "/api/auth/token":
        return json_type, json.dumps({"username": "root", "password": "root"})
    spec = make_spec(name="from-nobody", cmd=python_cmd(f"open({str(marker)!r}, 'w')"))
    return json_type, json.dumps(spec)


@needs_nobody
def test_another_user_gets_401_on_every_route_but_ping_and_nothing_is_stored_or_run(
    server_factory: ServerFactory, tmp_path: Path, figures: Figures
) -> None:
    server = server_factory.start()
    marker = tmp_path / "ran-as-the-servers-user"
    requests = []
    for method, path in [*_routes(), ("GET", "/api/v1/no-such-route")]:
        headers, body = _body(method, path, marker)
        requests.append((method, path, headers, body))
    answers = _as_nobody(server.url, requests)
    refused = 0
    for (method, path, _, _), (status, text) in zip(requests, answers, strict=True):
        if path in OPEN or (path in PAGE and method in ("GET", "HEAD")):
            assert status == 200, (method, path, text)
        else:
            assert status == 401, (method, path, status, text)
            if method != "HEAD":
                assert json.loads(text)["code"] == 401
            refused += 1
    figures.set("closed by default: routes refused to another user", refused)
    # What the owner sees: nothing stored, nothing run, no metric kept.
    with ExperimentClient(server.url) as owner:
        assert owner.list_experiments() == []
        assert owner.get_metrics(SAMPLE_ID) == []
    assert stored_names(server) == {}
    assert descendants(server.process.pid) == []
    assert not marker.exists()


@needs_nobody
def test_the_servers_own_user_needs_no_flag_and_no_token(
    server_factory: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = server_factory.start()
    with ExperimentClient(server.url) as client:  # finds the token by itself
        assert client._core.credentials.token == (server.data_dir / "token").read_text().strip()
        created = client.create_experiment(make_spec(name="mine", cmd="echo hello"))
        wait_until(
            lambda: client.get_experiment(created.experiment_id).status_name == "Succeeded",
            timeout=120,
            what="the experiment to succeed",
        )
    # Token-less tools of this user (curl, Submarine 0.8.0's client): the same-user pass.
    answer = httpx.get(f"{server.url}/api/v1/experiment", timeout=30)
    assert answer.status_code == 200
    assert [e["experimentId"] for e in answer.json()["result"]] == [created.experiment_id]
    metric = {"id": created.experiment_id, "key": "loss", "value": 0.5}
    assert httpx.post(f"{server.url}/api/metric/add", json=metric).status_code == 200
    # Without the discovery file too (nothing found: the socket's owner lets it in).
    elsewhere = tmp_path / "empty-runtime"
    elsewhere.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(elsewhere))
    with ExperimentClient(server.url) as bare:
        assert bare._core.credentials.token is None
        assert [e.experiment_id for e in bare.list_experiments()] == [created.experiment_id]
    monkeypatch.undo()
    # The CLI, with no --token and no $SUBMARINE_TOKEN.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBMARINE_")}
    command = [sys.executable, "-m", "submarine.cli", "--host", server.url]
    command += ["experiment", "list", "-o", "json"]
    cli = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert cli.returncode == 0, cli.stderr
    assert [e["experimentId"] for e in json.loads(cli.stdout)] == [created.experiment_id]
    # Another user given the token may call too: the token is what lets others in.
    token = (server.data_dir / "token").read_text().strip()
    bearer = {"Authorization": f"Bearer {token}"}
    answers = _as_nobody(server.url, [("GET", "/api/v1/experiment", bearer, "")])
    assert answers[0][0] == 200


TRACKING_TOKEN = "import os; print(os.environ['SUBMARINE_TRACKING_TOKEN'])"


@needs_nobody
def test_a_restart_keeps_the_token_and_the_replicas_credentials(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start()
    port = int(server.url.rsplit(":", 1)[1])
    before = read_discovery("127.0.0.1", port)
    assert before is not None
    with ExperimentClient(server.url) as client:
        created = client.create_experiment(
            make_spec(name="tracked", cmd=python_cmd(TRACKING_TOKEN))
        )
        experiment_id = created.experiment_id
        wait_until(
            lambda: client.get_experiment(experiment_id).status_name == "Succeeded",
            timeout=120,
            what="the replica to print its credential",
        )
        (credential,) = client.get_log(experiment_id, stream=io.StringIO()).pods[0].lines
    secret = (server.data_dir / "tracking-secret").read_bytes()
    server.restart()
    assert read_discovery("127.0.0.1", port) is None  # the old address's file went with it
    after = read_discovery("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    assert after is not None
    assert after.token == before.token
    assert (server.data_dir / "tracking-secret").read_bytes() == secret
    # Another user (no same-user pass) with the credential and the token of the first run.
    record = {"id": experiment_id, "key": "after-restart", "value": 1.0}
    answers = _as_nobody(
        server.url,
        [
            ("POST", "/api/metric/add", _json(credential), json.dumps(record)),
            ("GET", "/api/v1/experiment", {"Authorization": f"Bearer {before.token}"}, ""),
            ("GET", "/api/v1/experiment", {}, ""),
        ],
    )
    assert [status for status, _ in answers] == [200, 200, 401]
    with ExperimentClient(server.url) as client:
        assert [m.key for m in client.get_metrics(experiment_id)] == ["after-restart"]


def _json(bearer: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}


RECORDER = """
import http.server, json, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print(json.dumps(self.headers.get("Authorization")), flush=True)
        body = json.dumps({"status": "OK", "code": 200, "success": True, "message": None,
                           "result": [], "attributes": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
"""Another user's server: prints the Authorization header of every request it gets."""


@needs_nobody
def test_a_discovered_token_goes_only_to_the_address_it_was_written_for(
    server_factory: ServerFactory,
) -> None:
    first = server_factory.start()
    second = server_factory.start()
    tokens = {(s.data_dir / "token").read_text().strip() for s in (first, second)}
    assert len(tokens) == 2
    for server in (first, second):
        with ExperimentClient(server.url) as client:
            assert client._core.credentials.token == (server.data_dir / "token").read_text().strip()
    # Another user listens on a port for which a file with the first server's token lies
    # around (a server that crashed there left it).
    recorder = start_as_nobody(RECORDER)
    try:
        assert recorder.stdout is not None
        port = int(recorder.stdout.readline())
        first_token = (first.data_dir / "token").read_text().strip()
        write_discovery("127.0.0.1", port, first_token)
        for host in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
            with ExperimentClient(host, max_retries=0) as client:
                assert client.list_experiments() == []
            assert json.loads(recorder.stdout.readline()) is None, host
    finally:
        recorder.kill()
        recorder.communicate(timeout=30)


def _start(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUBMARINE_")}
    return subprocess.run(
        [sys.executable, "-m", "submarine.server", "--port", "0", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env={**clean, **(env or {})},
    )  # fmt: skip


def test_short_and_padded_tokens_are_refused(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    (tmp_path / "token.txt").write_text("0123456789\n")
    (tmp_path / "token.txt").chmod(0o600)
    refusals = {
        "--token 5 characters": (["--token", "short"], None, "has 5 characters: give at least 16"),
        "$SUBMARINE_TOKEN padded": (
            [],
            {"SUBMARINE_TOKEN": " padded-token-of-the-user "},
            "has whitespace around it",
        ),
        "--token-file 10 characters": (
            ["--token-file", str(tmp_path / "token.txt")],
            None,
            "has 10 characters: give at least 16",
        ),
    }
    for label, (args, env, reason) in refusals.items():
        done = _start(tmp_path, "--data-dir", data, *args, env=env)
        assert done.returncode == 2, (label, done.stderr)
        last = done.stderr.strip().splitlines()[-1]
        assert reason in last, (label, last)
        assert "--token" in last, (label, last)
        for secret in ("short", "padded-token-of-the-user", "0123456789"):
            assert secret not in done.stderr, (label, done.stderr)
    assert not (tmp_path / "data").exists()


@needs_nobody
def test_a_data_dir_of_another_user_is_refused_and_left_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "made-by-nobody"
    data_dir.mkdir(mode=0o777)
    os.chown(data_dir, NOBODY, NOBODY)
    done = _start(tmp_path, "--data-dir", str(data_dir))
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert f"data dir {data_dir} belongs to nobody (uid {NOBODY})" in message
    assert "give this server a data dir of its own (--data-dir" in message
    assert list(data_dir.iterdir()) == []


@needs_nobody
def test_no_auth_is_todays_open_server_on_loopback_only_and_says_so(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start("--no-auth")
    assert "any local user can run commands as you" in server.log()
    assert "?token=" not in server.log()
    assert not (server.data_dir / "token").exists()
    answers = _as_nobody(server.url, [("GET", "/api/v1/experiment", {}, "")])
    assert answers[0][0] == 200  # chosen: every local user may call
    done = _start(tmp_path, "--no-auth", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 2
    assert "--no-auth is for a loopback host only" in done.stderr
    assert not (tmp_path / "d").exists()


def test_the_link_and_the_discovery_file_carry_the_kept_token_until_a_clean_stop(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start()
    port = int(server.url.rsplit(":", 1)[1])
    token = (server.data_dir / "token").read_text().strip()
    assert f"Submarine workbench at {server.url}/?token={token}" in server.log()
    found = read_discovery("127.0.0.1", port)
    assert found is not None
    assert (found.token, found.url, found.pid) == (token, server.url, server.process.pid)
    assert stat.S_IMODE((server.data_dir / "token").stat().st_mode) == 0o600
    assert server.stop() in (0, -signal.SIGTERM)
    assert read_discovery("127.0.0.1", port) is None

"""Authentication and binding: the token on every route, the token endpoint, refused binds."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine.server import Settings, SettingsError, settings_from_args
from submarine.server.app import with_token
from submarine.server.store.datadir import TOKEN_NAME
from tests.support import make_spec

from .api_support import API, fail, ok

TOKEN = "s3cret-token-of-the-api"
BAD = "The token is not valid."


def routes(experiment_id: str) -> list[tuple[str, str, Any]]:
    """Every route that needs the token: method, path, JSON body."""
    return [
        ("GET", API, None),
        ("POST", API, make_spec()),
        ("GET", f"{API}/{experiment_id}", None),
        ("PATCH", f"{API}/{experiment_id}", make_spec()),
        ("DELETE", f"{API}/{experiment_id}", None),
        ("GET", f"{API}/logs", None),
        ("GET", f"{API}/logs/{experiment_id}", None),
        ("GET", f"{API}/{experiment_id}/log-stream", None),
        ("GET", "/api/v1/unknown-route", None),
    ]


def test_every_route_but_ping_and_login_needs_the_token(server_factory: Any) -> None:
    server = server_factory.start("--token", TOKEN)
    good = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        experiment_id = ok(client.post(API, json=make_spec(), headers=good))["experimentId"]
        refusals = [
            {},
            {"Authorization": TOKEN},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Bearer"},
        ]
        for method, path, body in routes(experiment_id):
            for headers in refusals:
                response = client.request(method, path, json=body, headers=headers)
                fail(response, 401, BAD)
                assert response.json()["status"] == "UNAUTHORIZED"
                assert response.headers["www-authenticate"] == "Bearer"
        # the experiment was neither patched nor deleted by refused calls
        assert ok(client.get(f"{API}/{experiment_id}", headers=good))["status"] != "Deleted"
        for method, path, body in routes(experiment_id):
            response = client.request(method, path, json=body, headers=good)
            assert response.status_code != 401, (method, path, response.text)
        lower = {"Authorization": f"bearer {TOKEN}"}
        assert ok(client.get(API, headers=lower)) is not None
        assert ok(client.get(f"{API}/ping")) == "Pong"


def test_ping_needs_no_token(server_factory: Any) -> None:
    server = server_factory.start("--token", TOKEN)
    assert ok(httpx.get(f"{server.url}{API}/ping")) == "Pong"


def test_the_token_comes_from_the_environment(server_factory: Any) -> None:
    server = server_factory.start(env={"SUBMARINE_TOKEN": TOKEN})
    fail(httpx.get(f"{server.url}{API}"), 401, BAD)
    assert ok(httpx.get(f"{server.url}{API}", headers={"Authorization": f"Bearer {TOKEN}"})) == []


def test_the_token_endpoint_hands_out_the_token(server_factory: Any) -> None:
    server = server_factory.start("--token", TOKEN, "--username", "ada", "--password", "pw")
    url = f"{server.url}/api/auth/token"
    assert ok(httpx.post(url, json={"username": "ada", "password": "pw"})) == TOKEN
    for wrong in ({"username": "ada", "password": "PW"}, {"username": "bob", "password": "pw"}):
        fail(httpx.post(url, json=wrong), 401, "Invalid username or password.")
    fail(httpx.post(url, json={"username": "ada"}), 400)
    fail(httpx.post(url, json=["ada", "pw"]), 400)
    yaml_body = "username: ada\npassword: pw\n"
    headers = {"content-type": "application/yaml"}
    assert ok(httpx.post(url, content=yaml_body, headers=headers)) == TOKEN


def test_a_user_without_a_token_gets_a_generated_one(server_factory: Any) -> None:
    server = server_factory.start("--username", "ada", "--password", "pw")
    wrong = {"Authorization": "Bearer not-the-generated-token"}
    fail(httpx.get(f"{server.url}{API}", headers=wrong), 401, BAD)
    token = ok(
        httpx.post(f"{server.url}/api/auth/token", json={"username": "ada", "password": "pw"})
    )
    assert isinstance(token, str)
    assert len(token) >= 32
    assert ok(httpx.get(f"{server.url}{API}", headers={"Authorization": f"Bearer {token}"})) == []
    # The one kept in the data dir, for the next start too.
    assert (server.data_dir / "token").read_text().strip() == token


def test_the_token_endpoint_without_a_user_says_how_to_configure_one(server_url: str) -> None:
    response = httpx.post(f"{server_url}/api/auth/token", json={"username": "a", "password": "b"})
    assert "--username" in fail(response, 401)


@pytest.mark.slow
def test_a_non_loopback_host_without_a_token_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "submarine.server", "--host", "0.0.0.0", "--port", "0"]
    result = subprocess.run(
        [*command, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refusing to listen on 0.0.0.0" in lines[0]
    assert "--token" in lines[0]
    assert "--insecure" in lines[0]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("host", "token", "insecure", "refused"),
    [
        ("127.0.0.1", None, False, False),
        ("127.0.0.2", None, False, False),
        ("localhost", None, False, False),
        ("::1", None, False, False),
        ("0.0.0.0", None, False, True),
        ("192.168.1.5", None, False, True),
        ("::", None, False, True),
        ("example.org", None, False, True),
        ("0.0.0.0", "a-token-of-the-user", False, False),
        ("0.0.0.0", None, True, False),
    ],
)
def test_bind_rules(host: str, token: str | None, insecure: bool, refused: bool) -> None:
    settings = Settings(host=host, token=token, insecure=insecure, data_dir=Path("d"))
    assert (settings.bind_problem() is not None) == refused


def test_serve_refuses_a_non_loopback_bind_before_listening() -> None:
    from submarine.server import serve

    with pytest.raises(SettingsError, match=r"refusing to listen on 10\.0\.0\.1"):
        serve(Settings(host="10.0.0.1", port=0, data_dir=Path("unused")))


def test_settings_from_args_reads_flags_and_environment(tmp_path: Path) -> None:
    env = {"SUBMARINE_HOME": str(tmp_path / "home"), "SUBMARINE_TOKEN": "token-from-the-env"}
    settings = settings_from_args(
        ["--port", "0", "--cpus", "1.5", "--memory", "16G", "--gpus", "0"], env
    )
    assert settings.data_dir == (tmp_path / "home").resolve()
    assert settings.token == "token-from-the-env"
    assert (settings.cpus, settings.memory_bytes, settings.gpus) == (1.5, 16 << 30, 0)
    flagged = settings_from_args(
        ["--token", "token-from-the-flag", "--data-dir", str(tmp_path / "d")], env
    )
    assert (flagged.token, flagged.data_dir) == ("token-from-the-flag", (tmp_path / "d").resolve())
    default = settings_from_args([], {"HOME": str(tmp_path)})
    assert default.data_dir.name == ".submarine"
    assert default.token is None


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--memory", "1.5G"], "--memory '1.5G' is not a size"),
        (["--cpus", "-1"], "'-1' is not a positive number"),
        (["--gpus", "two"], "'two' is not a whole number"),
        (["--username", "ada"], "give both a username and a password"),
        (["--port", "70000"], "port 70000 is out of range"),
    ],
)
def test_bad_arguments_exit_with_2_and_say_why(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        settings_from_args(argv, {})
    assert caught.value.code == 2
    assert needle in capsys.readouterr().err


def test_the_listening_line_gives_the_real_port_and_the_data_dir(server_factory: Any) -> None:
    server = server_factory.start()
    port = int(server.url.rsplit(":", 1)[1])
    assert port > 0
    line = f"Submarine local server listening on http://127.0.0.1:{port} (data: {server.data_dir})"
    assert line in server.log()
    assert json.loads(httpx.get(f"{server.url}{API}/ping").text)["result"] == "Pong"


@pytest.mark.slow
def test_a_port_in_use_exits_1_with_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "submarine.server", "--port", str(port)]
        result = subprocess.run(
            [*command, "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "address already in use" in result.stderr
    assert f"error: the server did not start on http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_generated_token_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    settings = with_token(Settings(data_dir=tmp_path / "data", workdir=tmp_path))
    assert settings.generated_token
    assert settings.token is not None
    assert len(settings.token) >= 32
    assert (tmp_path / "data" / TOKEN_NAME).read_text().strip() == settings.token
    again = with_token(Settings(data_dir=tmp_path / "data", workdir=tmp_path))
    assert again.token == settings.token
    given = Settings(data_dir=tmp_path / "d2", workdir=tmp_path, token="a-token-the-user-gave")
    assert with_token(given) is given
    open_one = Settings(data_dir=tmp_path / "d3", workdir=tmp_path, no_auth=True)
    assert with_token(open_one).token is None
    assert not (tmp_path / "d2").exists()
    assert not (tmp_path / "d3").exists()

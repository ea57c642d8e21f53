"""Password guessing, hostile values and forged log lines (issue 11, items 7 and 9).

Before: ``POST /api/auth/token`` took 777 guesses a second with no limit and logged no
failure; a number of more than 4,300 digits in a body was a 500; a NUL byte in ``cmd`` or an
env value was accepted and then failed the experiment as an internal error; a newline at the
end of ``meta.name`` or an env var name was accepted; a newline in a value the server logs
(``environment.image``) started a log line of the sender's choosing.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from submarine.client import ExperimentClient, SpecValidationError
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec

from .conftest import Figures, stored_names

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

API = "/api/v1/experiment"
TOKEN = "login-test-token"
USER, PASSWORD = "ada", "the-right-password"
FORGED = "FORGED-LINE"


def _token_url(server: RunningServer) -> str:
    return f"{server.url}/api/auth/token"


def _login(server: RunningServer, password: str, source: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as http:
        return http.post(_token_url(server), json={"username": USER, "password": password})


def test_password_guessing_is_limited_per_address_and_logged(
    server_factory: ServerFactory, figures: Figures
) -> None:
    server = server_factory.start("--token", TOKEN, "--username", USER, "--password", PASSWORD)
    guesses = [f"guess-{index:04d}" for index in range(40)]
    codes = []
    for guess in guesses:
        answer = _login(server, guess)
        codes.append(answer.status_code)
        assert TOKEN not in answer.text
        if answer.status_code == 429:
            break
    figures.set("login: wrong passwords answered before 429", codes.count(401))
    assert codes[:-1] == [401] * (len(codes) - 1)
    assert codes[-1] == 429, f"40 wrong passwords in a row and no 429: {codes}"
    assert len(codes) <= 11
    # Even the right password is refused from that address now.
    blocked = _login(server, PASSWORD)
    assert blocked.status_code == 429
    body = blocked.json()
    assert (body["code"], body["success"], body["result"]) == (429, None, None)
    assert "try again in" in body["message"]
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert TOKEN not in blocked.text
    # Another address is not held back.
    assert _login(server, PASSWORD, source="127.0.0.2").json()["result"] == TOKEN
    log = server.log()
    assert len(re.findall(r"failed login as ada from 127\.0\.0\.1", log)) == codes.count(401)
    assert not [guess for guess in guesses if guess in log], "a tried password is in the log"
    assert PASSWORD not in log


@pytest.mark.parametrize(
    ("body", "media"),
    [
        pytest.param(
            '{"meta": {"name": "big", "framework": "TensorFlow", "cmd": "true"},'
            ' "environment": {"image": "local"},'
            ' "spec": {"Worker": {"replicas": ' + "9" * 5000 + "}}}",
            "application/json",
            id="json replicas",
        ),
        pytest.param('{"x": -' + "1" * 4301 + "}", "application/json", id="json anywhere"),
        pytest.param("meta:\n  name: " + "7" * 10_000 + "\n", "application/yaml", id="yaml"),
    ],
)
def test_a_number_of_thousands_of_digits_is_a_400(
    module_server: RunningServer, figures: Figures, body: str, media: str
) -> None:
    before = sum(stored_names(module_server).values())
    for method, path in (("POST", API), ("PATCH", f"{API}/experiment-1700000000000-0001")):
        answer = httpx.request(
            method, module_server.url + path, content=body, headers={"Content-Type": media}
        )
        figures.add("input: oversized numbers refused")
        if method == "PATCH" and answer.status_code == 404:
            continue  # an unknown id may be refused first: still no 500
        assert answer.status_code == 400, answer.text
        assert "digits" in answer.json()["message"]
    assert sum(stored_names(module_server).values()) == before


HOSTILE_VALUES = [
    (("meta", "cmd"), "python\x00 -c pass", "meta.cmd"),
    (("meta", "envVars"), {"A": "x\x00y"}, "meta.envVars"),
    (("spec", "Worker", "cmd"), "true\x00", "spec.Worker.cmd"),
    (("environment", "image"), "local\nFORGED", "environment.image"),
    (("spec", "Worker", "image"), "local\x1b[2K", "spec.Worker.image"),
    (("meta", "name"), "trailing-newline\n", "meta.name"),
    (("meta", "envVars"), {"NAME\n": "x"}, "meta.envVars"),
]


@pytest.mark.parametrize(("where", "value", "path"), HOSTILE_VALUES)
def test_control_characters_that_cannot_be_meant_are_refused_before_anything_runs(
    module_server: RunningServer, figures: Figures, where: tuple[str, ...], value: object, path: str
) -> None:
    spec = make_spec(name="hostile")
    target = spec
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    before = sum(stored_names(module_server).values())
    answer = httpx.post(
        module_server.url + API,
        content=json.dumps(spec),
        headers={"Content-Type": "application/json"},
    )
    figures.add("input: control characters refused")
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["success"], body["result"]) == (None, None)
    assert body["message"].startswith(f"{path}: ") or f"\n{path}: " in body["message"], body
    assert sum(stored_names(module_server).values()) == before
    # The client refuses the same spec before it sends anything.
    with (
        ExperimentClient(module_server.url) as client,
        pytest.raises(SpecValidationError) as caught,
    ):
        client.create_experiment(spec)
    assert any(problem.path == path for problem in caught.value.problems)
    assert sum(stored_names(module_server).values()) == before


def test_values_with_newlines_cannot_forge_server_log_lines(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start("--token", TOKEN, "--username", USER, "--password", PASSWORD)
    forged = f"\n2026-01-01 00:00:00,000 ERROR submarine.server: {FORGED}\r\x1b[2K"
    spec = make_spec(name="forge")
    spec["environment"]["image"] = "local" + forged
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    httpx.post(server.url + API, content=json.dumps(spec), headers=auth)
    # A failed login logs the user name; a refused cross-site request logs the path.
    httpx.post(_token_url(server), json={"username": "x" + forged, "password": "no"})
    httpx.get(
        f"{server.url}{API}/%0A{FORGED}%0D%1B",
        headers={"Origin": "http://evil.example", **auth},
    )
    log = server.log()
    assert "failed login as x\\n2026-01-01" in log, log[-2000:]
    assert f"refused GET {API}/\\n{FORGED}\\r\\x1b" in log, log[-2000:]
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith("2026-01-01 00:00:00,000")]
    assert "\x1b" not in log

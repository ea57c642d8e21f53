"""Authentication: a fixed token, or a token fetched with a username and password."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from submarine import __version__
from submarine.client import AuthenticationError
from tests.client.conftest import HOST, Script, experiment, ok

EXP_ID = "experiment-1647192232698-0001"


def unauthorized() -> httpx.Response:
    return httpx.Response(401, content=b"<html><body>The token is not valid.</body></html>")


class TokenServer:
    """Issues token-1, token-2, ... for u/p; accepts only the latest one."""

    def __init__(self) -> None:
        self.issued = 0
        self.logins: list[dict[str, str]] = []
        self.revoked = False
        self.broken = False

    def current(self) -> str:
        return f"token-{self.issued}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/token":
            body = json.loads(request.content)
            self.logins.append(body)
            if body != {"username": "u", "password": "p"}:
                return httpx.Response(401, content=b"<html>Bad credentials</html>")
            self.issued += 1
            self.revoked = False
            return ok(self.current())
        if (
            self.broken
            or self.revoked
            or request.headers.get("Authorization") != f"Bearer {self.current()}"
        ):
            return unauthorized()
        return ok(experiment(EXP_ID))


def test_token_is_sent_as_bearer(make):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    client = make(script, token="s3cret")
    client.get_experiment(EXP_ID)
    assert script.requests[0].headers["Authorization"] == "Bearer s3cret"


def test_token_from_the_environment(make, monkeypatch):
    monkeypatch.setenv("SUBMARINE_TOKEN", "from-env")
    script = Script(lambda request: ok(experiment(EXP_ID)))
    client = make(script)
    client.get_experiment(EXP_ID)
    assert script.requests[0].headers["Authorization"] == "Bearer from-env"


def test_no_credentials_no_authorization_header(make):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    make(script).get_experiment(EXP_ID)
    assert "Authorization" not in script.requests[0].headers


def test_user_agent_and_extra_headers(make):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    make(script, headers={"X-Team": "ml"}).get_experiment(EXP_ID)
    headers = script.requests[0].headers
    assert headers["User-Agent"] == f"submarine-sdk/{__version__}"
    assert headers["X-Team"] == "ml"
    assert headers["Accept"] == "application/json"


def test_a_wrong_token_is_an_authentication_error_without_a_login(make):
    script = Script(lambda request: unauthorized())
    client = make(script, token="wrong")
    with pytest.raises(AuthenticationError, match="The token is not valid"):
        client.get_experiment(EXP_ID)
    assert len(script.requests) == 1


def test_username_password_logs_in_on_first_use_only(make):
    server = TokenServer()
    script = Script(server)
    client = make(script, username="u", password="p")
    assert script.requests == []
    client.get_experiment(EXP_ID)
    client.get_experiment(EXP_ID)
    assert server.logins == [{"username": "u", "password": "p"}]
    assert script.paths() == [
        "POST /api/auth/token",
        f"GET /api/v1/experiment/{EXP_ID}",
        f"GET /api/v1/experiment/{EXP_ID}",
    ]
    assert script.requests[0].headers["Content-Type"] == "application/json"
    assert "Authorization" not in script.requests[0].headers


def test_username_password_from_the_environment(make, monkeypatch):
    monkeypatch.setenv("SUBMARINE_USERNAME", "u")
    monkeypatch.setenv("SUBMARINE_PASSWORD", "p")
    server = TokenServer()
    client = make(Script(server))
    client.get_experiment(EXP_ID)
    assert len(server.logins) == 1


def test_an_expired_token_is_refreshed_once_after_a_401(make):
    server = TokenServer()
    script = Script(server)
    client = make(script, username="u", password="p")
    client.get_experiment(EXP_ID)
    server.revoked = True
    assert client.get_experiment(EXP_ID).experiment_id == EXP_ID
    assert len(server.logins) == 2
    assert script.requests[-1].headers["Authorization"] == "Bearer token-2"


def test_a_401_that_persists_after_the_refresh_is_raised(make):
    server = TokenServer()
    client = make(Script(server), username="u", password="p")
    client.get_experiment(EXP_ID)
    server.broken = True  # refuses every token from now on
    with pytest.raises(AuthenticationError):
        client.get_experiment(EXP_ID)
    assert len(server.logins) == 2


def test_a_fixed_token_plus_credentials_logs_in_after_a_401(make):
    server = TokenServer()
    script = Script(server)
    client = make(script, token="stale", username="u", password="p")
    assert client.get_experiment(EXP_ID).experiment_id == EXP_ID
    assert script.paths()[0] == f"GET /api/v1/experiment/{EXP_ID}"
    assert len(server.logins) == 1


def test_wrong_password_names_the_user(make):
    server = TokenServer()
    client = make(Script(server), username="u", password="wrong")
    with pytest.raises(AuthenticationError, match="refused username 'u'") as caught:
        client.list_experiments()
    assert "Bad credentials" in caught.value.message
    assert len(server.logins) == 1


def test_username_without_password_is_refused():
    from submarine.client import ExperimentClient

    with pytest.raises(ValueError, match="username was given without a password"):
        ExperimentClient(HOST, username="u")


def test_concurrent_requests_of_the_blocking_client_share_one_login():
    import threading

    from submarine.client import ExperimentClient

    server = TokenServer()
    release = threading.Event()
    started: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/token":
            assert release.wait(30), "the test never released the login"
        return server(request)

    client = ExperimentClient(
        HOST, username="u", password="p", transport=httpx.MockTransport(answer)
    )
    results: list[str] = []

    def get() -> None:
        started.append("x")
        results.append(client.get_experiment(EXP_ID).experiment_id)

    threads = [threading.Thread(target=get) for _ in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(started) < len(threads) and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(30)
    client.close()
    assert results == [EXP_ID] * 6
    assert len(server.logins) == 1


def test_concurrent_tasks_share_one_login_and_one_refresh():
    import asyncio

    from submarine.client import AsyncExperimentClient

    server = TokenServer()

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the other tasks run while this request is out
        return server(request)

    async def main() -> list[str]:
        transport = httpx.MockTransport(answer)
        async with AsyncExperimentClient(
            HOST, username="u", password="p", transport=transport
        ) as client:
            first = await asyncio.gather(*(client.get_experiment(EXP_ID) for _ in range(5)))
            server.revoked = True
            again = await asyncio.gather(*(client.get_experiment(EXP_ID) for _ in range(5)))
            return [e.experiment_id for e in [*first, *again]]

    assert asyncio.run(main()) == [EXP_ID] * 10
    assert len(server.logins) == 2


def test_a_login_answered_503_is_retried_like_any_request(make, fake_time):
    answers = iter([httpx.Response(503, content=b"<html>starting</html>")])
    server = TokenServer()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/token":
            pending = next(answers, None)
            if pending is not None:
                return pending
        return server(request)

    script = Script(answer)
    client = make(script, username="u", password="p")
    assert client.get_experiment(EXP_ID).experiment_id == EXP_ID
    assert script.paths() == [
        "POST /api/auth/token",
        "POST /api/auth/token",
        f"GET /api/v1/experiment/{EXP_ID}",
    ]
    assert len(fake_time.sleeps) == 1


def test_the_login_has_the_clients_timeout(make):
    script = Script(TokenServer())
    make(script, username="u", password="p", timeout=7).get_experiment(EXP_ID)
    login, get = script.requests
    assert login.extensions["timeout"] == get.extensions["timeout"]
    assert login.extensions["timeout"]["connect"] == 7

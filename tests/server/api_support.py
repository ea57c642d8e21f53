"""What the HTTP tests of the local server share: envelope checks and a wait for a status
(specs and other waits: :mod:`tests.support`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from submarine.server.app import create_app, with_token
from submarine.server.settings import Settings
from tests.support import DEADLINE, wait_until

API = "/api/v1/experiment"
ID_RE = re.compile(r"^experiment-[0-9]{13}-[0-9]{4}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
"""Submarine 0.8.0's time format: UTC, whole seconds, ``Z``."""
ENVELOPE_KEYS = ["status", "code", "success", "message", "result", "attributes"]
SLEEPER = 'python -c "import time; time.sleep(600)"'
"""A replica that runs until it is stopped."""


def ok(response: httpx.Response) -> Any:
    """The result of a success envelope (asserting its exact shape)."""
    body = response.json()
    assert response.status_code == 200, body
    assert list(body) == ENVELOPE_KEYS
    assert (body["status"], body["code"], body["success"], body["message"]) == (
        "OK",
        200,
        True,
        None,
    )
    return body["result"]


def fail(response: httpx.Response, code: int, message: str | None = None) -> str:
    """The message of an error envelope with HTTP status ``code`` (asserting its shape)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert response.status_code == code, body
    assert list(body) == ENVELOPE_KEYS
    assert body["code"] == code
    assert body["success"] is None  # as on Submarine 0.8.0
    assert body["result"] is None
    assert body["attributes"] == {}
    assert isinstance(body["status"], str)
    assert body["status"] == body["status"].upper()
    assert body["status"] not in {"", "OK"}
    if message is not None:
        assert body["message"] == message
    assert isinstance(body["message"], str)
    return str(body["message"])


def create(client: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    """Create an experiment and return its payload."""
    result = ok(client.post(API, json=spec))
    assert isinstance(result, dict)
    return result


def wait_status(
    client: httpx.Client, experiment_id: str, statuses: set[str], timeout: float = DEADLINE
) -> dict[str, Any]:
    """Poll until the experiment reaches one of ``statuses``; its payload then."""
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        nonlocal last
        last = ok(client.get(f"{API}/{experiment_id}"))
        return last if last["status"] in statuses else None

    return wait_until(
        reached,
        what=lambda: f"{experiment_id} to reach {sorted(statuses)}; last {last}",
        timeout=timeout,
    )


@asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app run in this process, its lifespan (and state) included, for what
    a healthy server cannot show (a broken store) and for the thread a handler runs in.
    It carries the server's token (no socket here for the server to know its own user by)."""
    settings = with_token(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            yield client

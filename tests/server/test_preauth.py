"""The pieces that bound what an unauthenticated client costs: the login budget with
attempts in flight, a replica credential checked from the headers, large bodies parsed in
a worker thread, and a bounded number of log lines per kind of client event.
(The attacks themselves are in ``tests/reliability/``.)"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from submarine.server.api import rest
from submarine.server.api.logins import FailureLimit
from submarine.server.api.logtext import LineBudget
from submarine.server.tracking.routes import ANY_EXPERIMENT, Tracking


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempts_in_flight_count_against_the_budget() -> None:
    limit = FailureLimit(10, 60.0, clock=Clock())
    held = [limit.reserve("10.0.0.1") for _ in range(200)]
    assert held.count(None) == 10
    assert set(held[10:]) == {1}  # retry soon: those in flight end within a body deadline
    assert limit.reserve("10.0.0.2") is None  # another address has its own budget


def test_an_attempt_ended_without_evaluation_frees_its_place() -> None:
    limit = FailureLimit(2, 60.0, clock=Clock())
    assert limit.reserve("a") is None
    assert limit.reserve("a") is None
    assert limit.reserve("a") == 1
    assert limit.release("a", failed=None) == 0  # a malformed body: nothing evaluated
    assert limit.reserve("a") is None


def test_a_lockout_lasts_at_most_the_window_and_a_success_clears_it() -> None:
    clock = Clock()
    limit = FailureLimit(2, 60.0, clock=clock)
    for count in (1, 2):
        assert limit.reserve("a") is None
        assert limit.release("a", failed=True) == count
    assert limit.reserve("a") == 60
    clock.now += 30
    assert limit.reserve("a") == 30
    clock.now += 30
    assert limit.reserve("a") is None
    assert limit.release("a", failed=False) == 0
    assert limit.retry_after("a") is None


def test_a_replica_credential_names_its_experiment(tmp_path: Path) -> None:
    tracking = Tracking(tmp_path / "t.db", "server-token-0123456789")
    credential = tracking.credential("experiment-1-0001")
    assert credential.startswith("experiment-1-0001.")

    def admitted(value: str) -> str | None:
        scope = {"type": "http", "headers": [(b"authorization", value.encode())]}
        return tracking.admitted(Request(scope))

    assert admitted(f"Bearer {credential}") == "experiment-1-0001"
    assert admitted(f"bearer  {credential} ") == "experiment-1-0001"
    assert admitted("Bearer server-token-0123456789") == ANY_EXPERIMENT
    forged = "experiment-1-0002." + credential.rpartition(".")[2]
    assert admitted(f"Bearer {forged}") is None
    assert admitted(f"Bearer {credential}x") is None
    assert admitted(f"Basic {credential}") is None
    assert admitted("Bearer " + "x" * 5000 + ".00") is None
    tracking.store.close()
    open_tracking = Tracking(tmp_path / "u.db", None)
    scope = {"type": "http", "headers": []}
    assert open_tracking.admitted(Request(scope)) == ANY_EXPERIMENT
    open_tracking.store.close()


def _parsing_app() -> Starlette:
    async def parse(request: Request) -> Response:
        return JSONResponse({"document": await rest.read_document(request, 1 << 20)})

    return Starlette(routes=[Route("/", parse, methods=["POST"])])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "in_thread"), [(100, False), (rest.PARSE_INLINE_BYTES, False), (20_000, True)]
)
async def test_large_bodies_are_parsed_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch, size: int, in_thread: bool
) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    parse = rest._parse

    def recording(body: bytes, is_yaml: bool, what: str) -> Any:
        seen.append(threading.get_ident())
        return parse(body, is_yaml, what)

    monkeypatch.setattr(rest, "_parse", recording)
    body = ("text: " + "x" * (size - 7) + "\n").encode()
    assert len(body) == size
    transport = httpx.ASGITransport(app=_parsing_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/", content=body, headers={"content-type": "text/yaml"})
    assert answer.json() == {"document": {"text": "x" * (size - 7)}}
    assert len(seen) == 1
    assert (seen[0] != loop_thread) is in_thread


def test_a_line_budget_logs_twenty_a_minute_and_counts_the_rest() -> None:
    clock = Clock()
    budget = LineBudget(20, clock=clock)
    taken = [budget.take() for _ in range(100)]
    assert taken[:20] == [0] * 20
    assert taken[20:] == [None] * 80
    clock.now += 60
    assert budget.take() == 80
    assert budget.take() == 0

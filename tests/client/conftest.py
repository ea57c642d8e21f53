"""Fixtures of the client tests: scripted MockTransport answers and both clients behind one
driver, so every behaviour is checked on ExperimentClient and AsyncExperimentClient alike."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest

from submarine.client import AsyncExperimentClient, ExperimentClient
from submarine.models import Experiment, ExperimentSpecPayload

HOST = "http://submarine.test:8080"
API = HOST + "/api/v1/experiment"

Handler = Callable[[httpx.Request], httpx.Response]


def envelope(
    result: Any = None,
    *,
    code: int = 200,
    success: bool | None = True,
    message: str | None = None,
    status: str = "OK",
    attributes: dict[str, Any] | None = None,
) -> bytes:
    """A Submarine envelope as bytes, nulls kept as the real server writes them."""
    return json.dumps(
        {
            "status": status,
            "code": code,
            "success": success,
            "message": message,
            "result": result,
            "attributes": attributes or {},
        }
    ).encode()


def ok(result: Any, **kwargs: Any) -> httpx.Response:
    """HTTP 200 with a success envelope around ``result``."""
    return httpx.Response(200, content=envelope(result, **kwargs))


def fail(http: int, message: str, *, code: int | None = None) -> httpx.Response:
    """An error answer in Submarine's envelope."""
    reason = httpx.codes.get_reason_phrase(http).upper().replace(" ", "_")
    return httpx.Response(
        http,
        content=envelope(None, code=code or http, success=False, message=message, status=reason),
    )


def assert_same_experiments(got: Sequence[Experiment], want: Sequence[Experiment]) -> None:
    """Two parses gave the same experiments: same types, fields set, dicts and specs."""
    assert len(got) == len(want)
    for mine, theirs in zip(got, want, strict=True):
        assert type(mine) is Experiment
        assert mine.to_dict() == theirs.to_dict()
        assert mine.model_fields_set == theirs.model_fields_set
        if theirs.spec is not None:
            assert type(mine.spec) is ExperimentSpecPayload
            assert mine.spec.to_dict() == theirs.spec.to_dict()


def experiment(exp_id: str = "experiment-1647192232698-0001", status: str = "Running") -> dict:
    """An experiment payload as the server sends it."""
    return {
        "experimentId": exp_id,
        "uid": "3513233e-33f2-4399-8fba-2a44ca2af730",
        "status": status,
        "acceptedTime": "2022-03-14T16:03:10.000+08:00",
        "createdTime": None,
        "runningTime": None,
        "finishedTime": None,
        "spec": {
            "meta": {"name": "mnist", "framework": "TensorFlow", "cmd": "python train.py"},
            "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
            "spec": {"Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"}},
        },
    }


def pod_log(exp_id: str, pods: dict[str, list[str]]) -> dict:
    """An ExperimentLog payload."""
    return {
        "experimentId": exp_id,
        "logContent": [{"podName": name, "podLog": lines} for name, lines in pods.items()],
    }


class Script:
    """A handler that records every request and answers from a function of it."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def paths(self) -> list[str]:
        """``METHOD path?query`` of every request so far."""
        out = []
        for request in self.requests:
            query = request.url.query.decode()
            out.append(f"{request.method} {request.url.path}" + (f"?{query}" if query else ""))
        return out


class FakeTime:
    """A clock that only moves when the client sleeps, so no test waits for real."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


class SyncDriver:
    """ExperimentClient as is; stream_logs collected into a list."""

    kind = "sync"

    def __init__(self, client: ExperimentClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name == "stream_logs":
            return lambda *a, **k: list(attr(*a, **k))
        return attr


class AsyncDriver:
    """AsyncExperimentClient, each coroutine run to completion on one event loop."""

    kind = "async"

    def __init__(self, client: AsyncExperimentClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name in ("stream_logs", "iter_metrics", "iter_params"):
            return lambda *a, **k: self.loop.run_until_complete(_collect(attr(*a, **k)))
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: self.loop.run_until_complete(attr(*a, **k))
        return attr


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio."""
    return "asyncio"


@pytest.fixture
def fake_time() -> FakeTime:
    """A fake clock and sleep shared by the clients a test makes."""
    return FakeTime()


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest, fake_time: FakeTime) -> Iterator[Callable[..., Any]]:
    """Make a client of the parametrized kind over a MockTransport running ``handler``."""
    made: list[Any] = []
    loop = asyncio.new_event_loop() if request.param == "async" else None

    def factory(handler: Handler, **kwargs: Any) -> Any:
        kwargs.setdefault("retry_backoff", 0.0)
        kwargs.setdefault("host", HOST)
        if loop is None:
            sync = ExperimentClient(transport=httpx.MockTransport(handler), **kwargs)
            sync._sleep = fake_time.sleep
            sync._clock = fake_time.clock
            driver: Any = SyncDriver(sync)
        else:
            aio = AsyncExperimentClient(transport=httpx.MockTransport(handler), **kwargs)
            aio._sleep = fake_time.async_sleep
            aio._clock = fake_time.clock
            driver = AsyncDriver(aio, loop)
        made.append(driver)
        return driver

    yield factory
    for driver in made:
        driver.close()
    if loop is not None:
        loop.close()

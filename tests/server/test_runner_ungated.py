"""The queue's policy on a backend that places replicas itself (a Ray cluster): every
experiment is handed over at once and the backend places what fits, but one it has not
placed after the backfill window holds the newer ones back: those not handed over stay
queued, and those not placed yet are taken back until it is placed.

The scheduler runs over the real store with launchers of the test's own, whose placement
the test decides; every wait is on a state, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from submarine.models import ExperimentSpec
from submarine.server.run.capacity import Capacity
from submarine.server.run.launcher import Facts, Pod
from submarine.server.run.layout import JobLayout
from submarine.server.run.scheduler import Scheduler
from submarine.server.run.watch import Changes
from tests.support import make_spec

from .runner_support import RecordingStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Placed:
    """A replica that runs until its launcher is released."""

    def __init__(self) -> None:
        self.ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def facts(self) -> Facts:
        return {}

    async def wait(self) -> int:
        return await asyncio.shield(self.ended)


class Cluster:
    """Places an experiment when the test says so; remembers what it was handed."""

    def __init__(self) -> None:
        self.handed: list[str] = []
        self.places: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Event()

    def launcher(self, experiment_id: str, spec: ExperimentSpec, pods: list[Pod]) -> Launcher:
        self.handed.append(experiment_id)
        self.changed.set()
        return Launcher(self, experiment_id)

    def place(self, experiment_id: str) -> None:
        self.places.setdefault(experiment_id, asyncio.Event()).set()


@dataclass
class Launcher:
    cluster: Cluster
    experiment_id: str
    name = "the test's cluster"

    def __post_init__(self) -> None:
        self.replicas: list[Placed] = []

    async def prepare(self, waiting: Callable[[str | None], None]) -> list[str]:
        waiting("no room yet")
        await self.cluster.places.setdefault(self.experiment_id, asyncio.Event()).wait()
        waiting(None)
        return ["10.0.0.1:2000"]

    async def start(
        self, pod: Pod, argv: list[str], env: Mapping[str, str], *, command: str
    ) -> Placed:
        self.replicas.append(Placed())
        return self.replicas[-1]

    async def adopt(self, pod: Pod, facts: Facts) -> Placed:
        raise AssertionError("nothing is adopted here")

    def placement(self) -> str:
        return ""

    async def release(self) -> None:
        for replica in self.replicas:
            if not replica.ended.done():
                replica.ended.set_result(0)


@asynccontextmanager
async def scheduler(
    tmp_path: Path, window: float
) -> AsyncIterator[tuple[Scheduler, RecordingStore, Cluster]]:
    store = RecordingStore(tmp_path / "submarine.db")
    cluster = Cluster()
    changes = Changes()
    made = Scheduler(
        store,
        Capacity(1000, 1 << 30, 0),  # not consulted: the cluster places
        JobLayout(tmp_path),
        workdir=tmp_path,
        grace=0.1,
        changes=changes,
        max_replicas=64,
        window=window,
        make_launcher=cluster.launcher,
        gated=False,
    )
    made.open()
    try:
        yield made, store, cluster
    finally:
        await made.close("the test ends")
        store.close()


async def until(check: Callable[[], bool], event: asyncio.Event, what: str) -> None:
    """Wait, woken by ``event``, until ``check()`` holds (at most 30 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        event.clear()
        if check():
            return
        remaining = deadline - loop.time()
        assert remaining > 0, f"timed out waiting for {what}"
        try:
            await asyncio.wait_for(event.wait(), min(remaining, 0.5))
        except asyncio.TimeoutError:
            continue


def submit(made: Scheduler, store: RecordingStore) -> str:
    experiment_id = store.add(make_spec(cmd="true"))
    made.submit(experiment_id)
    return experiment_id


async def test_everything_is_handed_over_at_once_while_none_waited_past_the_window(
    tmp_path: Path,
) -> None:
    async with scheduler(tmp_path, window=600.0) as (made, store, cluster):
        old, new = submit(made, store), submit(made, store)
        assert cluster.handed == [old, new]
        cluster.place(new)  # the cluster places the newer one first: it fits
        await until(lambda: store.record(new).status == "Running", cluster.changed, "new")
        assert store.record(old).status == "Accepted"
        assert made.queue_reason(old) is None  # handed over: the cluster says why it waits
        assert made.unplaced() == [old]


async def test_one_not_placed_past_the_window_takes_back_the_newer_ones(tmp_path: Path) -> None:
    async with scheduler(tmp_path, window=0.5) as (made, store, cluster):
        old, new = submit(made, store), submit(made, store)
        assert cluster.handed == [old, new]  # both handed over before the window passed
        # Once the old one has waited past the window, the new one is taken back.
        await until(lambda: made.queue_reason(new) is not None, cluster.changed, "take-back")
        assert made.queue_reason(new) == f"{old} waited over 0.5 seconds and starts first"
        assert made.unplaced() == [old]
        later = submit(made, store)  # not even handed over
        assert cluster.handed == [old, new]
        assert made.queue_reason(later) == (
            f"{old} waited over 0.5 seconds and starts first; 1 experiment ahead"
        )
        cluster.place(old)
        await until(lambda: cluster.handed[2:] == [new, later], cluster.changed, "the others")
        await until(lambda: store.record(old).status == "Running", cluster.changed, "old")
        assert store.history[new] == ["Accepted"]  # taken back and handed over again

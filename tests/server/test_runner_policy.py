"""The job policy against a launcher of its own: the policy is the same whatever launches the
replicas (local processes, a Ray cluster), so it is checked here without either.

The fake launcher's replicas exit when the test says so; every wait is on a state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from submarine.models import ExperimentSpec
from submarine.server.run import podlogs
from submarine.server.run.capacity import Request
from submarine.server.run.distributed import pod_name, replica_roles
from submarine.server.run.job import Job
from submarine.server.run.launcher import Facts, LaunchError, Pod, ReplicaLostError
from submarine.server.run.layout import JobLayout
from tests.support import make_spec

pytestmark = pytest.mark.anyio

EID = "experiment-1700000000000-0001"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeReplica:
    """A replica that exits (or is lost) when the test says so."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def facts(self) -> Facts:
        return {"name": self.name}

    async def wait(self) -> int:
        return await asyncio.shield(self.ended)


class FakeLauncher:
    """Launches nothing; records what the policy asked of it."""

    name = "the fake cluster"

    def __init__(self, *, waits: Sequence[str] = (), prepared: LaunchError | None = None) -> None:
        self.pods: list[Pod] = []
        self.waits = list(waits)
        self.prepared = prepared
        self.holding = asyncio.Event()
        self.hold = False
        self.started: list[tuple[str, list[str], dict[str, str]]] = []
        self.replicas: dict[str, FakeReplica] = {}
        self.releases = 0
        self.fail_start: dict[str, LaunchError] = {}
        self.adopted: list[tuple[str, dict[str, Any]]] = []
        self.lost: dict[str, str] = {}
        self.adoption = asyncio.Event()

    async def prepare(self, waiting: Callable[[str | None], None]) -> list[str]:
        for reason in self.waits:
            waiting(reason)
        if self.hold:
            self.holding.set()
            await asyncio.Event().wait()  # until the job is stopped
        waiting(None)
        if self.prepared is not None:
            raise self.prepared
        return [f"10.0.0.{i}:{2000 + i}" for i in range(len(self.pods))]

    async def start(
        self, pod: Pod, argv: list[str], env: Mapping[str, str], *, command: str
    ) -> FakeReplica:
        if pod.name in self.fail_start:
            raise self.fail_start[pod.name]
        self.started.append((pod.name, argv, dict(env)))
        self.replicas[pod.name] = FakeReplica(pod.name)
        return self.replicas[pod.name]

    async def adopt(self, pod: Pod, facts: Facts) -> FakeReplica:
        self.adopted.append((pod.name, dict(facts)))
        self.adoption.set()
        if pod.name in self.lost:
            raise ReplicaLostError(self.lost[pod.name])
        self.replicas[pod.name] = FakeReplica(pod.name)
        return self.replicas[pod.name]

    def placement(self) -> str:
        return " on nowhere"

    async def release(self) -> None:
        self.releases += 1
        for replica in self.replicas.values():
            if not replica.ended.done():
                replica.ended.set_result(-15)


class Run:
    """A job over a fake launcher, and the statuses it reported."""

    def __init__(
        self,
        tmp_path: Path,
        spec: dict[str, Any],
        launcher: FakeLauncher,
        *,
        adopting: bool = False,
    ) -> None:
        model = ExperimentSpec.model_validate(spec)
        layout = JobLayout(tmp_path)
        self.pods = [
            Pod(
                pod_name(EID, role, index),
                role,
                index,
                layout.log_path(EID, pod_name(EID, role, index)),
            )
            for role, count in replica_roles(model)
            for index in range(count)
        ]
        launcher.pods = self.pods
        self.launcher = launcher
        self.statuses: list[str] = []
        self.reasons: list[str | None] = []
        self.changed = asyncio.Event()
        self.job = Job(
            EID,
            model,
            Request(),
            self.pods,
            launcher=launcher,
            layout=layout,
            report=self._report,
            adopting=adopting,
        )
        self.task = asyncio.get_running_loop().create_task(self.job.run())

    def _report(self, experiment_id: str, status: str, reason: str | None = None) -> None:
        assert experiment_id == EID
        self.statuses.append(status)
        self.reasons.append(reason)
        self.changed.set()

    async def until_status(self, status: str) -> None:
        while status not in self.statuses:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 30)

    def lines(self, pod: str) -> list[str]:
        return podlogs.read_lines(self.pods[[p.name for p in self.pods].index(pod)].log)


def tf_spec() -> dict[str, Any]:
    return make_spec(
        "TensorFlow",
        {"Chief": {}, "Worker": {"replicas": 2}},
        cmd="python train.py --steps 3",
    )


async def test_replicas_start_in_role_order_with_the_cluster_the_launcher_placed(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, tf_spec(), FakeLauncher())
    await run.until_status("Running")
    worker0, worker1, chief = (f"{EID}-{pod}" for pod in ("worker-0", "worker-1", "chief-0"))
    assert [name for name, _, _ in run.launcher.started] == [worker0, worker1, chief]
    _, argv, env = run.launcher.started[2]
    assert argv == ["python", "train.py", "--steps", "3"]
    assert env["JOB_ID"] == EID
    assert env["PYTHONUNBUFFERED"] == "1"
    assert json.loads(env["TF_CONFIG"]) == {
        "cluster": {"worker": ["10.0.0.0:2000", "10.0.0.1:2001"], "chief": ["10.0.0.2:2002"]},
        "task": {"type": "chief", "index": 0},
        "environment": "cloud",
    }

    run.launcher.replicas[chief].ended.set_result(0)  # the Chief decides
    await run.task
    assert run.statuses == ["Created", "Running", "Succeeded"]
    assert run.lines(chief) == []
    assert run.lines(worker0) == ["[submarine] stopped: the experiment succeeded"]
    assert run.launcher.releases >= 1


async def test_a_lost_replica_fails_the_experiment_naming_it(tmp_path: Path) -> None:
    run = Run(tmp_path, tf_spec(), FakeLauncher())
    await run.until_status("Running")
    worker0, _, chief = (pod.name for pod in run.pods)
    lost = f"replica {worker0} was lost: its node left"
    run.launcher.replicas[worker0].ended.set_exception(ReplicaLostError(lost))
    await run.task
    assert run.statuses == ["Created", "Running", "Failed"]
    assert run.lines(worker0) == [f"[submarine] {lost}; the experiment failed"]
    assert run.lines(chief) == [f"[submarine] stopped: {lost}; the experiment failed"]


async def test_why_it_waits_is_said_once_per_reason_and_cleared_once_placed(
    tmp_path: Path,
) -> None:
    launcher = FakeLauncher(waits=["no room", "no room", "no node"])
    run = Run(tmp_path, tf_spec(), launcher)
    await run.until_status("Running")
    assert run.job.waiting is None
    assert run.lines(run.pods[0].name) == [
        "[submarine] waiting for the fake cluster: no room",
        "[submarine] waiting for the fake cluster: no node",
    ]
    run.job.stop("the server stopped")
    await run.task
    assert run.statuses == ["Created", "Running", "Failed"]


async def test_a_stop_before_the_replicas_are_placed_leaves_the_experiment_accepted(
    tmp_path: Path,
) -> None:
    launcher = FakeLauncher(waits=["no room"])
    launcher.hold = True
    run = Run(tmp_path, tf_spec(), launcher)
    await asyncio.wait_for(launcher.holding.wait(), 30)
    assert run.job.waiting == "no room"
    run.job.stop("the server stopped")
    await run.task
    assert run.statuses == []
    assert launcher.started == []
    assert launcher.releases >= 1


async def test_a_launch_that_fails_fails_every_pod_with_the_reason(tmp_path: Path) -> None:
    run = Run(tmp_path, tf_spec(), FakeLauncher(prepared=LaunchError("the clone failed")))
    await run.task
    assert run.statuses == ["Failed"]
    for pod in run.pods:
        assert run.lines(pod.name) == ["[submarine] the clone failed; the experiment failed"]


async def test_a_replica_that_cannot_start_is_the_culprit_and_stops_the_started(
    tmp_path: Path,
) -> None:
    launcher = FakeLauncher()
    run = Run(tmp_path, tf_spec(), launcher)
    worker0, worker1, chief = (pod.name for pod in run.pods)
    reason = f"cannot start replica {worker1}: no such program"
    launcher.fail_start[worker1] = LaunchError(reason, run.pods[1])
    await run.task
    assert run.statuses == ["Failed"]
    assert run.lines(worker0) == [f"[submarine] stopped: {reason}; the experiment failed"]
    assert run.lines(worker1) == [f"[submarine] {reason}; the experiment failed"]
    assert run.lines(chief) == [f"[submarine] {reason}; the experiment failed"]


async def test_a_failure_is_reported_with_the_failing_pod_and_its_exit_code(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, tf_spec(), FakeLauncher())
    await run.until_status("Running")
    worker1 = run.pods[1].name
    run.launcher.replicas[worker1].ended.set_result(-9)
    await run.task
    assert run.statuses == ["Created", "Running", "Failed"]
    assert run.reasons == [None, None, f"replica {worker1} was killed by signal SIGKILL"]


async def test_a_job_left_running_reports_nothing_and_releases_nothing(tmp_path: Path) -> None:
    run = Run(tmp_path, tf_spec(), FakeLauncher())
    await run.until_status("Running")
    run.job.leave()
    await run.task
    assert run.job.left
    assert run.statuses == ["Created", "Running"]
    assert run.launcher.releases == 0
    assert not any(r.ended.done() for r in run.launcher.replicas.values())
    assert all(run.lines(pod.name) == [] for pod in run.pods)


async def test_a_job_left_before_its_replicas_run_stops_them_and_stays_accepted(
    tmp_path: Path,
) -> None:
    launcher = FakeLauncher(waits=["no room"])
    launcher.hold = True
    run = Run(tmp_path, tf_spec(), launcher)
    await asyncio.wait_for(launcher.holding.wait(), 30)
    run.job.leave()
    await run.task
    assert not run.job.left
    assert run.statuses == []
    assert launcher.releases >= 1


async def test_an_adopting_job_finds_each_replica_from_its_recorded_facts(
    tmp_path: Path,
) -> None:
    first = Run(tmp_path, tf_spec(), FakeLauncher())
    await first.until_status("Running")
    first.job.leave()
    await first.task

    again = Run(tmp_path, tf_spec(), FakeLauncher(), adopting=True)
    worker0, worker1, chief = (pod.name for pod in again.pods)
    # The facts each replica's handle gave when it started, read back from the state file.
    while True:
        again.launcher.adoption.clear()
        if len(again.launcher.replicas) == 3:
            break
        await asyncio.wait_for(again.launcher.adoption.wait(), 30)
    assert again.launcher.adopted == [(name, {"name": name}) for name in (worker0, worker1, chief)]
    again.launcher.replicas[worker1].ended.set_result(0)  # ended while the server was down
    again.launcher.replicas[chief].ended.set_result(0)  # the Chief decides
    await again.task
    assert again.statuses == ["Succeeded"]
    assert again.launcher.started == []
    assert again.lines(worker0) == ["[submarine] stopped: the experiment succeeded"]


async def test_an_adopting_job_fails_with_the_reason_of_a_replica_that_was_lost(
    tmp_path: Path,
) -> None:
    first = Run(tmp_path, tf_spec(), FakeLauncher())
    await first.until_status("Running")
    first.job.leave()
    await first.task

    launcher = FakeLauncher()
    worker1 = first.pods[1].name
    lost = f"replica {worker1} was lost while the server was down: its supervisor is gone"
    launcher.lost[worker1] = lost
    again = Run(tmp_path, tf_spec(), launcher, adopting=True)
    await again.task
    assert again.statuses == ["Failed"]
    assert again.reasons == [lost]
    assert [name for name, _ in launcher.adopted] == [first.pods[0].name, worker1]
    assert again.lines(worker1) == [f"[submarine] {lost}; the experiment failed"]
    assert again.lines(first.pods[0].name) == [
        f"[submarine] stopped: {lost}; the experiment failed"
    ]
    assert launcher.releases >= 1

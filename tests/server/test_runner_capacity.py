"""Capacity: what the machine has, what experiments ask, the queue (oldest first, backfilled,
no one overtaken past the window), gpu assignment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from submarine.models import ExperimentSpec
from submarine.server.run.capacity import (
    Capacity,
    Request,
    count_gpus,
    detect_capacity,
    format_bytes,
    request_of,
)
from tests.support import make_spec

from .runner_support import harness, probe

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_requests_sum_the_replicas_and_a_zero_request_asks_nothing() -> None:
    spec = ExperimentSpec.model_validate(
        make_spec(
            "TensorFlow",
            {
                "Ps": {"replicas": 2, "resources": "cpu=500m,memory=1G"},
                "Worker": {"replicas": 3, "resources": "cpu=2,nvidia.com/gpu=1"},
                "Chief": {"replicas": 1, "resources": "nvidia.com/gpu=0"},
            },
            cmd="true",
        )
    )
    per_replica = request_of(spec)
    assert len(per_replica) == 6
    assert ("Chief", 0, Request()) in per_replica
    assert Request.total(r for _, _, r in per_replica) == Request(
        cpu_millis=7000, memory_bytes=2 << 30, gpus=3
    )


def test_shortfalls_count_what_is_in_use() -> None:
    machine = Capacity(cpu_millis=2000, memory_bytes=4 << 30, gpus=1)
    assert machine.shortfalls(Request(cpu_millis=2000, memory_bytes=4 << 30, gpus=1)) == []
    assert machine.shortfalls(Request(cpu_millis=1500), in_use=Request(cpu_millis=1000)) == [
        "needs 1.5 cpus, 1 free"
    ]
    assert machine.shortfalls(Request(gpus=1), in_use=Request(gpus=1)) == ["needs 1 gpus, 0 free"]
    assert machine.shortfalls(Request(memory_bytes=1 << 30), Request(memory_bytes=3 << 30)) == []
    assert machine.shortfalls(Request(memory_bytes=2 << 30), Request(memory_bytes=3 << 30)) == [
        "needs 2G of memory, 1G free"
    ]


def test_problem_gives_need_and_capacity() -> None:
    machine = Capacity(cpu_millis=2000, memory_bytes=16 << 30, gpus=0)
    assert machine.problem(Request(cpu_millis=2000, memory_bytes=16 << 30)) is None
    assert machine.problem(Request(cpu_millis=8000)) == (
        "needs cpu=8 but this machine has 2 cpus (override it with the cpus setting)"
    )
    message = machine.problem(Request(cpu_millis=500, memory_bytes=64 << 30, gpus=2))
    assert message == (
        "needs memory=64G but this machine has 16G of memory (override it with the memory "
        "setting); needs nvidia.com/gpu=2 but this machine has 0 gpus (override it with the "
        "gpus setting)"
    )
    assert format_bytes(1536 << 20) == "1.5G"
    assert format_bytes(100) == "100 bytes"


def test_gpus_are_counted_from_devices_then_nvidia_smi() -> None:
    devices = ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert count_gpus(devices, None) == 2
    smi = "GPU 0: NVIDIA A100 (UUID: GPU-1)\nGPU 1: NVIDIA A100 (UUID: GPU-2)\n"
    assert count_gpus([], smi) == 2
    assert count_gpus(["/dev/nvidiactl"], None) == 0
    assert count_gpus([], "") == 0


def test_detected_capacity_is_the_machine_unless_overridden() -> None:
    machine = detect_capacity()
    assert machine.cpu_millis == (os.cpu_count() or 1) * 1000
    assert machine.memory_bytes == psutil.virtual_memory().total
    assert machine.gpus >= 0
    assert detect_capacity(cpus=0.5, memory_bytes=1 << 30, gpus=3) == Capacity(500, 1 << 30, 3)


async def test_experiments_wait_first_in_first_out_until_they_fit(tmp_path: Path) -> None:
    releases = [tmp_path / f"release-{i}" for i in range(3)]
    async with harness(tmp_path, cpus=1) as h:
        ids = [
            h.submit(
                make_spec(
                    "PyTorch",
                    {"Master": {"resources": "cpu=1"}},
                    cmd=probe("--wait-file", str(release)),
                    name=f"queued-{i}",
                )
            )
            for i, release in enumerate(releases)
        ]
        # A small one behind them waits too: the head blocks (strict FIFO).
        small = h.submit(
            make_spec("PyTorch", {"Master": {"resources": "cpu=100m"}}, cmd=probe(), name="small")
        )
        await h.until_status(ids[0], "Running")
        assert [h.status(i) for i in [*ids[1:], small]] == ["Accepted"] * 3
        for i, release in enumerate(releases):
            release.touch()
            assert await h.until_status(ids[i]) == "Succeeded"
            if i + 1 < len(ids):
                await h.until_status(ids[i + 1], "Running", "Succeeded")
        assert await h.until_status(small) == "Succeeded"
        records = [h.store.record(i) for i in [*ids, small]]
        started = [r.created_time.timestamp() for r in records if r.created_time]
        finished = [r.finished_time.timestamp() for r in records if r.finished_time]
        assert len(started) == len(finished) == 4
        # Each one started only after the one before it had finished.
        assert all(started[i + 1] >= finished[i] for i in range(3))


async def test_one_that_can_never_fit_is_refused_with_need_and_capacity(tmp_path: Path) -> None:
    async with harness(tmp_path, cpus=1, memory_bytes=1 << 30, gpus=0) as h:
        spec = ExperimentSpec.model_validate(
            make_spec("TensorFlow", {"Worker": {"replicas": 2, "resources": "cpu=2"}}, cmd="true")
        )
        assert h.runner.capacity_problem(spec) == (
            "needs cpu=4 but this machine has 1 cpus (override it with the cpus setting)"
        )
        fits = ExperimentSpec.model_validate(
            make_spec("TensorFlow", {"Worker": {"resources": "cpu=1,memory=1G"}}, cmd="true")
        )
        assert h.runner.capacity_problem(fits) is None


async def test_a_queued_experiment_that_cannot_fit_fails_with_the_reason(tmp_path: Path) -> None:
    # E.g. patched after create, or the server restarted with less capacity.
    async with harness(tmp_path, cpus=1) as h:
        eid = h.store.add(make_spec("PyTorch", {"Master": {"resources": "cpu=3"}}, cmd=probe()))
        h.runner.submit(eid)
        assert await h.until_status(eid) == "Failed"
        reason = (
            "cannot run here: it needs cpu=3 but this machine has 1 cpus "
            "(override it with the cpus setting)"
        )
        assert h.lines(eid, "master-0") == [f"[submarine] {reason}; the experiment failed"]
        assert h.store.record(eid).reason == reason


async def test_replicas_asking_for_gpus_get_their_own_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    release = tmp_path / "release"
    async with harness(tmp_path, gpus=3) as h:
        first = h.submit(
            make_spec(
                "PyTorch",
                {
                    "Master": {"resources": "nvidia.com/gpu=2"},
                    "Worker": {"replicas": 1, "resources": "cpu=1"},
                },
                cmd=probe("--dump", "--wait-file", str(release)),
            )
        )
        second = h.submit(
            make_spec(
                "PyTorch",
                {"Master": {"resources": "nvidia.com/gpu=1"}},
                cmd=probe("--dump"),
                name="second",
            )
        )
        await h.until_logged(first, "PROBE", pods=2)
        assert await h.until_status(second) == "Succeeded"
        release.touch()
        assert await h.until_status(first) == "Succeeded"
        seen = {**h.probes(first), **h.probes(second)}
        devices = {name: r["env"].get("CUDA_VISIBLE_DEVICES") for name, r in seen.items()}
        assert devices == {
            f"{first}-master-0": "0,1",
            f"{first}-worker-0": None,
            f"{second}-master-0": "2",
        }


async def test_a_queued_experiment_says_what_it_waits_for(tmp_path: Path) -> None:
    release = tmp_path / "release"
    async with harness(tmp_path, cpus=4, memory_bytes=4 << 30, max_replicas=3) as h:
        running = h.submit(
            make_spec(
                "PyTorch",
                {"Master": {"resources": "cpu=1.5,memory=3G"}},
                cmd=probe("--wait-file", str(release)),
            )
        )
        await h.until_status(running, "Running")
        assert h.runner.queue_reason(running) is None
        big = h.submit(
            make_spec(
                "TensorFlow",
                {"Worker": {"replicas": 3, "resources": "cpu=1,memory=1G"}},
                cmd=probe(),
            )
        )
        big_reason = (
            "needs 3 cpus, 2.5 free; needs 3G of memory, 1G free; "
            "needs 3 replicas, 2 free (at most 3 run at once)"
        )
        assert h.runner.queue_reason(big) == big_reason
        assert h.runner.waiting_reason(big) == f"waiting in the queue: {big_reason}"
        # One that needs more than what is left waits behind it, its place said too.
        small = h.submit(make_spec("PyTorch", {"Master": {"resources": "cpu=3"}}, cmd=probe()))
        assert h.runner.queue_reason(small) == "needs 3 cpus, 2.5 free; 1 experiment ahead"
        assert h.runner.queue_reason("experiment-1-0001") is None
        assert h.runner.waiting_reasons() == {
            big: f"waiting in the queue: {big_reason}",
            small: "waiting in the queue: needs 3 cpus, 2.5 free; 1 experiment ahead",
        }
        # Said once in each pod's log, when it first had to wait.
        for _, lines in h.pod_logs(big):
            assert lines == [f"[submarine] waiting in the queue: {big_reason}"]
        release.touch()
        for experiment_id in (running, big, small):
            assert await h.until_status(experiment_id) == "Succeeded"
        assert [h.runner.queue_reason(e) for e in (running, big, small)] == [None] * 3
        assert h.runner.waiting_reasons() == {}
        for _, lines in h.pod_logs(big):
            assert lines[0] == f"[submarine] waiting in the queue: {big_reason}"
            assert lines.count(lines[0]) == 1


async def test_more_replicas_than_the_cap_can_never_run(tmp_path: Path) -> None:
    async with harness(tmp_path, max_replicas=2) as h:
        spec = make_spec("TensorFlow", {"Worker": {"replicas": 3}}, cmd=probe())
        problem = h.runner.capacity_problem(ExperimentSpec.model_validate(spec))
        assert problem == (
            "has 3 replicas but this server runs at most 2 at once "
            "(override it with the max-replicas setting)"
        )
        # Queued anyway (a patch can do that): it fails at the head with the reason.
        experiment_id = h.submit(spec)
        assert await h.until_status(experiment_id) == "Failed"
        for _, lines in h.pod_logs(experiment_id):
            assert lines == [f"[submarine] cannot run here: it {problem}; the experiment failed"]


def _blocking(release: Path, cpus: str, name: str) -> dict[str, Any]:
    return make_spec(
        "PyTorch",
        {"Master": {"resources": f"cpu={cpus}"}},
        cmd=probe("--wait-file", str(release)),
        name=name,
    )


async def test_a_small_experiment_starts_ahead_of_a_large_one_when_it_fits(
    tmp_path: Path,
) -> None:
    releases = {name: tmp_path / f"release-{name}" for name in ("running", "large", "small")}
    async with harness(tmp_path, cpus=2) as h:
        running = h.submit(_blocking(releases["running"], "1", "running"))
        await h.until_status(running, "Running")
        large = h.submit(_blocking(releases["large"], "2", "large"))
        small = h.submit(_blocking(releases["small"], "1", "small"))
        # The large one does not fit (1 cpu free); the small one does, and starts now.
        assert h.runner.queue_reason(small) is None
        await h.until_status(small, "Running")
        assert h.status(large) == "Accepted"
        assert h.runner.queue_reason(large) == "needs 2 cpus, 0 free"
        for name in ("running", "small"):
            releases[name].touch()
        await h.until_status(large, "Running")
        releases["large"].touch()
        assert [await h.until_status(e) for e in (running, small, large)] == ["Succeeded"] * 3
        started = {e: h.store.record(e).running_time for e in (small, large)}
        assert started[small] is not None
        assert started[large] is not None
        assert started[small] <= started[large]


_LATE = "seconds: nothing queued after it starts first"


async def test_one_that_waited_past_the_window_is_no_longer_overtaken(tmp_path: Path) -> None:
    releases = {name: tmp_path / f"release-{name}" for name in ("running", "large", "small")}
    async with harness(tmp_path, cpus=2, backfill_window=0.05) as h:
        running = h.submit(_blocking(releases["running"], "1", "running"))
        await h.until_status(running, "Running")
        large = h.submit(_blocking(releases["large"], "2", "large"))
        overdue = f"needs 2 cpus, 1 free; waited over 0.05 {_LATE}"
        await h.until(
            large,
            lambda: h.runner.queue_reason(large) == overdue,
            "the large one to wait past the window",
        )
        small = h.submit(_blocking(releases["small"], "1", "small"))
        # It fits, but the large one has waited long enough: it starts first.
        assert h.status(small) == "Accepted"
        assert h.runner.queue_reason(small) == (
            f"{large} waited over 0.05 seconds and starts first; 1 experiment ahead"
        )
        releases["running"].touch()
        await h.until_status(large, "Running")
        assert h.status(small) == "Accepted"
        assert h.runner.queue_reason(small).startswith("needs 1 cpus, 0 free")
        # Once it has waited past the window too, its reason says so (however fast the
        # large one started).
        small_overdue = f"needs 1 cpus, 0 free; waited over 0.05 {_LATE}"
        await h.until(
            small,
            lambda: h.runner.queue_reason(small) == small_overdue,
            "the small one to wait past the window",
        )
        assert h.status(small) == "Accepted"
        releases["large"].touch()
        await h.until_status(small, "Running")
        releases["small"].touch()
        assert [await h.until_status(e) for e in (running, large, small)] == ["Succeeded"] * 3
        large_done = h.store.record(large).finished_time
        small_started = h.store.record(small).running_time
        assert large_done is not None
        assert small_started is not None
        assert large_done <= small_started

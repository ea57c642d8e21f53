"""Lifecycle across restarts and patches: crash recovery, queued experiments, patched specs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import pytest

from submarine.models import ExperimentSpec
from submarine.server.api.wire import stored_spec
from submarine.server.run.job import marks_of
from submarine.server.run.layout import JobLayout
from tests.support import make_spec

from .runner_support import RecordingStore, alive, grandchildren, harness, probe

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# A server process reduced to its runner: it runs what the store holds, says RUNNING once
# the experiment's replicas are up, and then waits to be killed.
CRASHING_SERVER = """
import asyncio, json, sys
from pathlib import Path
from submarine.server.run import podlogs
from submarine.server.run.runner import Runner
from submarine.server.settings import Settings
from submarine.server.store.experiments import Store

async def main():
    values = json.loads(sys.argv[1])
    settings = Settings(**{k: Path(v) if k in ("data_dir", "workdir") else v
                           for k, v in values.items()})
    store = Store(settings.database)
    runner = Runner(store, settings)
    await runner.start()
    experiment_id = sys.argv[2]
    while True:
        logs = [podlogs.read_lines(path) for _, path in runner.pod_files(experiment_id)]
        up = all(any("SLEEPING" in line for line in lines) for lines in logs)
        if up and store.get(experiment_id).status == "Running":
            break
        await runner.wait_for_change(experiment_id, 1.0)
    print("RUNNING", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _probe_pids(data_dir: Path, experiment_id: str) -> list[int]:
    pids = []
    for log in (data_dir / "experiments" / experiment_id / "logs").glob("*.log"):
        for line in log.read_text().splitlines():
            if line.startswith("PROBE "):
                pids.append(json.loads(line[len("PROBE ") :])["pid"])
        pids += grandchildren(log.read_text().splitlines())
    return pids


async def test_after_a_crash_the_running_one_is_adopted_and_queued_ones_wait_for_it(
    tmp_path: Path,
) -> None:
    settings: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "workdir": str(tmp_path),
        "cpus": 1.0,
        "memory_bytes": 1 << 40,
        "gpus": 0,
        "grace_period": 0.3,
    }
    store = RecordingStore(tmp_path / "data" / "submarine.db")
    running = store.add(
        make_spec(
            "TensorFlow",
            {
                "Ps": {"cmd": probe("--dump", "--ignore-term", "--grandchild", "--sleep")},
                "Worker": {"resources": "cpu=1", "cmd": probe("--dump", "--daemon", "--sleep")},
            },
            resources="memory=1M",  # the Ps takes no cpu: the Worker takes the only one
        )
    )
    queued = store.add(
        make_spec("TensorFlow", {"Worker": {"resources": "cpu=1"}}, cmd=probe("--dump"))
    )
    store.close()

    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHING_SERVER,
        json.dumps(settings),
        running,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    try:
        line = await asyncio.wait_for(server.stdout.readline(), 60)
    finally:
        server.kill()  # kill -9: no clean shutdown
        await server.wait()
    assert line == b"RUNNING\n"
    leftovers = _probe_pids(tmp_path / "data", running)
    assert len(leftovers) == 4
    assert all(alive(pid) for pid in leftovers)  # the crash left them running

    async with harness(tmp_path, cpus=1.0, grace_period=0.3) as h:
        assert h.status(running) == "Running"
        assert all(alive(pid) for pid in leftovers)  # adopted, not stopped
        assert h.runner.queue_reason(queued) == "needs 1 cpus, 0 free"  # it holds its cpu
        await h.delete(running)
        assert [pid for pid in leftovers if alive(pid)] == []
        # The queued one was never started before the crash; it runs now.
        assert await h.until_status(queued) == "Succeeded"
        assert h.store.history[queued] == ["Created", "Running", "Succeeded"]


def _fake_state(directory: Path, eid: str, pid: int, created: float) -> None:
    """A state file that names ``pid``, started at ``created``, as the replica's process
    group and its supervisor."""
    (directory / "logs").mkdir(parents=True)
    pod = f"{eid}-master-0"
    facts = {
        "pgid": pid,
        "created": created,
        "supervisor": pid,
        "supervisor_created": created,
        "token": "t",
    }
    state = {
        "pods": [pod],
        "groups": {pod: [pid, created]},
        "replicas": {pod: {"role": "Master", "index": 0, "gpus": [], "facts": facts}},
        "request": [0, 0, 0],
    }
    (directory / "state.json").write_text(json.dumps(state))


@pytest.mark.parametrize("recorded", ["another start time", "its own start time"])
async def test_a_reused_pid_is_never_adopted(tmp_path: Path, recorded: str) -> None:
    """A recorded pid that names another process now (whatever its start time: a state
    file could name any live process) is neither adopted nor stopped."""
    store = RecordingStore(tmp_path / "data" / "submarine.db")
    eid = store.add(make_spec("PyTorch", {"Master": {}}, cmd="true"))
    store.close()
    stranger = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("replica_probe.py")), "--sleep"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    born = psutil.Process(stranger.pid).create_time()
    created = born - 60 if recorded == "another start time" else born
    _fake_state(tmp_path / "data" / "experiments" / eid, eid, stranger.pid, created)
    store = RecordingStore(tmp_path / "data" / "submarine.db")
    store.set_status(eid, "Running", at=datetime.now(timezone.utc))
    store.close()
    try:
        async with harness(tmp_path) as h:
            assert await h.until_status(eid) == "Failed"
            reason = (
                f"replica {eid}-master-0 was lost while the server was down: its supervisor "
                f"(pid {stranger.pid}) is gone and recorded no exit code"
            )
            assert h.store.record(eid).reason == reason
            assert h.lines(eid, "master-0")[-1] == f"[submarine] {reason}; the experiment failed"
            assert alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


async def test_a_state_of_an_earlier_version_fails_the_run_and_stops_its_processes(
    tmp_path: Path,
) -> None:
    """Replicas recorded without their supervisor cannot be adopted: what is left of them
    is stopped, and the experiment fails saying so."""
    store = RecordingStore(tmp_path / "data" / "submarine.db")
    eid = store.add(make_spec("PyTorch", {"Master": {}}, cmd="true"))
    store.close()
    orphan = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("replica_probe.py")), "--sleep"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **dict(marks_of(JobLayout(tmp_path / "data"), eid))},
    )
    directory = tmp_path / "data" / "experiments" / eid
    (directory / "logs").mkdir(parents=True)
    born = psutil.Process(orphan.pid).create_time()
    state = {"pods": [f"{eid}-master-0"], "groups": {f"{eid}-master-0": [orphan.pid, born]}}
    (directory / "state.json").write_text(json.dumps(state))
    store = RecordingStore(tmp_path / "data" / "submarine.db")
    store.set_status(eid, "Running", at=datetime.now(timezone.utc))
    store.close()
    try:
        async with harness(tmp_path) as h:
            assert await h.until_status(eid) == "Failed"
            assert h.store.record(eid).reason == (
                f"replica {eid}-master-0 cannot be found again: nothing recorded tells its "
                "supervisor"
            )
            orphan.wait(30)  # stopped, and reaped here
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


async def test_a_patched_queued_experiment_starts_with_the_new_spec(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release_patched = tmp_path / "release-patched"
    async with harness(tmp_path, cpus=1.0) as h:
        first = h.submit(
            make_spec(
                "PyTorch",
                {"Master": {"resources": "cpu=1"}},
                cmd=probe("--wait-file", str(release)),
            )
        )
        second = h.submit(
            make_spec("PyTorch", {"Master": {"resources": "cpu=1"}}, cmd=probe("--exit", "7"))
        )
        await h.until_status(first, "Running")
        assert h.status(second) == "Accepted"
        patched = make_spec(
            "PyTorch",
            {"Master": {"resources": "cpu=1"}, "Worker": {"replicas": 2}},
            cmd=probe("--dump", "--wait-file", str(release_patched)),
            resources="memory=1M",  # the workers take no cpu: the Master takes the only one
        )
        patched["meta"]["envVars"] = {"PATCHED": "yes"}
        h.store.replace_spec(second, stored_spec(ExperimentSpec.model_validate(patched), second))
        h.runner.spec_changed(second)
        release.touch()
        await h.until_logged(second, "PROBE", pods=3)
        release_patched.touch()
        assert await h.until_status(second) == "Succeeded"
        reports = h.probes(second)
        assert sorted(reports) == [f"{second}-master-0", f"{second}-worker-0", f"{second}-worker-1"]
        assert {r["env"]["PATCHED"] for r in reports.values()} == {"yes"}


async def test_a_patch_does_not_change_running_replicas(tmp_path: Path) -> None:
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec("PyTorch", {"Master": {}}, cmd=probe("--dump", "--wait-file", str(release)))
        )
        await h.until_logged(eid, "PROBE")
        patched = make_spec("PyTorch", {"Master": {}, "Worker": {"replicas": 3}}, cmd="false")
        h.store.replace_spec(eid, stored_spec(ExperimentSpec.model_validate(patched), eid))
        h.runner.spec_changed(eid)
        assert [name for name, _ in h.pod_logs(eid)] == [f"{eid}-master-0"]
        release.touch()
        assert await h.until_status(eid) == "Succeeded"
        # The pods that ran stay the experiment's pods; the new spec is stored only.
        assert [name for name, _ in h.pod_logs(eid)] == [f"{eid}-master-0"]
        assert h.store.record(eid).spec["spec"]["Worker"]["replicas"] == 3


async def test_the_image_is_reported_once_as_not_honoured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="submarine.server")
    async with harness(tmp_path) as h:
        spec = make_spec(
            "TensorFlow",
            {"Ps": {"image": "my/ps:1"}, "Worker": {"replicas": 2}},
            cmd=probe(),
        )
        eid = h.submit(spec)
        assert await h.until_status(eid) == "Succeeded"
    about_images = [r.getMessage() for r in caplog.records if "without containers" in r.message]
    assert about_images == [
        f"experiment {eid} asks for image local, my/ps:1: the local server "
        f"runs replicas without containers, in its own Python environment ({sys.executable})"
    ]


# -- the data dir's lock ------------------------------------------------------------------

HOLD_LOCK = """
import sys
from pathlib import Path
from submarine.server.store.datadir import DataDirLock
lock = DataDirLock(Path(sys.argv[1]))
print("locked", flush=True)
sys.stdin.read()
"""


def test_the_data_dir_lock_names_its_holder_and_is_reentrant_in_one_process(
    tmp_path: Path,
) -> None:
    from submarine.server import ServerStartError
    from submarine.server.store.datadir import DataDirInUseError, DataDirLock, claim

    data = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(DataDirInUseError) as caught:
            DataDirLock(data)
        assert caught.value.pid == holder.pid
        assert str(caught.value).startswith(
            f"data dir {data} is in use by the server with pid {holder.pid}: "
        )
        assert (data / "server.lock").read_text() == f"{holder.pid}\n"  # left as it was
    finally:
        holder.communicate("", timeout=30)
    # Its holder gone, the lock is free; within one process claims nest.
    with claim(data) as outer, claim(data) as inner:
        assert outer is inner
        assert (data / "server.lock").read_text() == f"{os.getpid()}\n"
    assert not outer.held
    assert (data / "server.lock").read_text() == ""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ServerStartError, match=f"cannot lock data dir {blocker}/data: "):
        DataDirLock(blocker / "data")

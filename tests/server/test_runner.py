"""Real multi-replica runs: the env each replica saw, success policies, failures, stops."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from submarine.server.run.processes import Members, ProcessFamily
from tests.support import make_spec

from .runner_support import alive, grandchildren, group_members, harness, probe

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_tensorflow_ps_workers_and_chief_see_one_cluster(tmp_path: Path) -> None:
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec(
                "TensorFlow",
                {
                    "Ps": {"replicas": 1, "cmd": probe("--dump", "--sleep")},
                    "Worker": {"replicas": 2, "cmd": probe("--dump")},
                    "Chief": {"replicas": 1, "cmd": probe("--dump", "--wait-file", str(release))},
                },
                code=None,
            )
        )
        await h.until_logged(eid, "PROBE", pods=4)
        assert h.status(eid) == "Running"
        release.touch()
        assert await h.until_status(eid) == "Succeeded"

        reports = h.probes(eid)
        assert sorted(reports) == [
            f"{eid}-chief-0",
            f"{eid}-ps-0",
            f"{eid}-worker-0",
            f"{eid}-worker-1",
        ]
        configs = {name: json.loads(r["env"]["TF_CONFIG"]) for name, r in reports.items()}
        cluster = configs[f"{eid}-ps-0"]["cluster"]
        assert list(cluster) == ["ps", "worker", "chief"]
        assert [len(cluster[r]) for r in cluster] == [1, 2, 1]
        addresses = [a for addrs in cluster.values() for a in addrs]
        assert len(set(addresses)) == 4
        assert all(a.startswith("127.0.0.1:") for a in addresses)
        for name, config in configs.items():
            role, index = name.removeprefix(f"{eid}-").rsplit("-", 1)
            assert config == {
                "cluster": cluster,
                "task": {"type": role, "index": int(index)},
                "environment": "cloud",
            }
        for report in reports.values():
            env = report["env"]
            assert env["JOB_ID"] == eid
            assert env["PYTHONUNBUFFERED"] == "1"
            assert Path(env["SUBMARINE_TENSORBOARD_LOG_DIR"]).is_dir()
            assert "CODE_PATH" not in env
            assert report["cwd"] == str(tmp_path)
            assert report["executable"] == sys.executable
            assert report["pgid"] == report["pid"]  # its own process group
            assert not alive(report["pid"])
        # The Ps never exits by itself: success stopped it, and said so in its log.
        assert any("stopped: the experiment succeeded" in line for line in h.lines(eid, "ps-0"))
        assert h.store.history[eid] == ["Accepted", "Created", "Running", "Succeeded"]
        record = h.store.record(eid)
        assert record.created_time is not None
        assert record.running_time is not None
        assert record.finished_time is not None
        assert record.accepted_time <= record.created_time <= record.running_time
        assert record.running_time <= record.finished_time


async def test_tensorflow_workers_alone_succeed_when_all_exit_zero(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        eid = h.submit(make_spec("TensorFlow", {"Worker": {"replicas": 2}}, cmd=probe("--dump")))
        assert await h.until_status(eid) == "Succeeded"
        reports = h.probes(eid)
        assert len(reports) == 2
        tasks = sorted(json.loads(r["env"]["TF_CONFIG"])["task"]["index"] for r in reports.values())
        assert tasks == [0, 1]


async def test_a_single_tensorflow_replica_gets_no_tf_config(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        eid = h.submit(make_spec("TensorFlow", {"Worker": {"replicas": 1}}, cmd=probe("--dump")))
        assert await h.until_status(eid) == "Succeeded"
        (report,) = h.probes(eid).values()
        assert "TF_CONFIG" not in report["env"]
        assert report["env"]["JOB_ID"] == eid


@pytest.mark.parametrize("framework", ["PyTorch", "XGBoost"])
async def test_master_and_two_workers_see_their_ranks(tmp_path: Path, framework: str) -> None:
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec(
                framework,
                {
                    "Master": {"replicas": 1, "cmd": probe("--dump", "--wait-file", str(release))},
                    "Worker": {"replicas": 2, "cmd": probe("--dump", "--sleep")},
                },
            )
        )
        await h.until_logged(eid, "PROBE", pods=3)
        release.touch()
        # The Master decides; the workers, still running, are stopped.
        assert await h.until_status(eid) == "Succeeded"
        env = {
            name.removeprefix(f"{eid}-"): report["env"] for name, report in h.probes(eid).items()
        }
        master_port = env["master-0"]["MASTER_PORT"]
        assert int(master_port) > 0
        for pod, rank in [("master-0", "0"), ("worker-0", "1"), ("worker-1", "2")]:
            assert env[pod]["MASTER_ADDR"] == "127.0.0.1"
            assert env[pod]["MASTER_PORT"] == master_port
            assert env[pod]["WORLD_SIZE"] == "3"
            assert env[pod]["RANK"] == rank
            if framework == "PyTorch":
                assert env[pod]["PET_MASTER_ADDR"] == "127.0.0.1"
                assert env[pod]["PET_MASTER_PORT"] == master_port
                assert env[pod]["PET_NNODES"] == "3"
                assert env[pod]["PET_NODE_RANK"] == rank
                assert "WORKER_ADDRS" not in env[pod]
            else:
                addrs = env[pod]["WORKER_ADDRS"].split(",")
                assert len(addrs) == 2
                assert all(a.startswith("127.0.0.1:") for a in addrs)
                assert "PET_NNODES" not in env[pod]
        worker_ports = [env[p].get("WORKER_PORT") for p in ("worker-0", "worker-1")]
        if framework == "XGBoost":
            assert [f"127.0.0.1:{p}" for p in worker_ports] == env["master-0"][
                "WORKER_ADDRS"
            ].split(",")
        assert any("stopped: the experiment succeeded" in x for x in h.lines(eid, "worker-1"))


async def test_env_is_server_env_then_meta_env_vars_or_the_roles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROM_SERVER", "server")
    monkeypatch.setenv("SHADOWED", "server")
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        spec = make_spec(
            "PyTorch",
            {
                "Master": {"replicas": 1},
                "Worker": {"replicas": 1, "envVars": {"ROLE_ONLY": "worker"}},
            },
            cmd=probe("--dump", "--wait-file", str(release)),
        )
        spec["meta"]["envVars"] = {"SHADOWED": "meta", "META_ONLY": "meta", "JOB_ID": "mine"}
        eid = h.submit(spec)
        await h.until_logged(eid, "PROBE", pods=2)
        release.touch()
        assert await h.until_status(eid) == "Succeeded"
        reports = h.probes(eid)
        master = reports[f"{eid}-master-0"]["env"]
        worker = reports[f"{eid}-worker-0"]["env"]
        assert (master["FROM_SERVER"], master["SHADOWED"], master["META_ONLY"]) == (
            "server",
            "meta",
            "meta",
        )
        assert master["JOB_ID"] == eid  # what the server adds comes last
        # The role's envVars replace meta.envVars for that role.
        assert (worker["ROLE_ONLY"], worker["SHADOWED"]) == ("worker", "server")
        assert "META_ONLY" not in worker


async def test_a_failing_replica_fails_the_experiment_and_stops_the_rest(tmp_path: Path) -> None:
    release = tmp_path / "release"
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec(
                "TensorFlow",
                {
                    "Ps": {"replicas": 1, "cmd": probe("--dump", "--grandchild", "--sleep")},
                    "Worker": {
                        "replicas": 2,
                        "cmd": probe("--wait-file", str(tmp_path / "never"), "--sleep"),
                    },
                    "Chief": {
                        "replicas": 1,
                        "cmd": probe("--dump", "--wait-file", str(release), "--exit", "3"),
                    },
                },
            )
        )
        await h.until_logged(eid, "SLEEPING")  # the Ps, after forking its grandchild
        release.touch()
        assert await h.until_status(eid) == "Failed"
        chief = h.lines(eid, "chief-0")
        assert chief[-1] == (
            f"[submarine] replica {eid}-chief-0 exited with code 3; the experiment failed"
        )
        for pod in ("ps-0", "worker-0", "worker-1"):
            assert h.lines(eid, pod)[-1] == (
                f"[submarine] stopped: replica {eid}-chief-0 exited with code 3; "
                "the experiment failed"
            )
        ps = h.probes(eid)[f"{eid}-ps-0"]
        (grandchild,) = grandchildren(h.lines(eid, "ps-0"))
        assert not alive(ps["pid"])
        assert not alive(grandchild)
        assert h.store.history[eid] == ["Accepted", "Created", "Running", "Failed"]


async def test_a_replica_killed_by_a_signal_fails_the_experiment(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        eid = h.submit(make_spec("PyTorch", {"Master": {}}, cmd=probe("--dump", "--sleep")))
        await h.until_logged(eid, "SLEEPING")
        os.kill(h.probes(eid)[f"{eid}-master-0"]["pid"], 9)
        assert await h.until_status(eid) == "Failed"
        assert h.lines(eid, "master-0")[-1] == (
            f"[submarine] replica {eid}-master-0 was killed by signal SIGKILL; "
            "the experiment failed"
        )


async def test_a_command_that_cannot_start_fails_with_the_reason(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        eid = h.submit(
            make_spec(
                "PyTorch",
                {
                    "Master": {"cmd": probe("--dump", "--sleep")},
                    "Worker": {"replicas": 2, "cmd": "no-such-command-xyz --flag"},
                },
            )
        )
        assert await h.until_status(eid) == "Failed"
        assert h.store.history[eid] == ["Accepted", "Failed"]
        reason = (
            f"cannot start replica {eid}-worker-0 ('no-such-command-xyz --flag'): command "
            "'no-such-command-xyz' was not found"
        )
        assert h.lines(eid, "worker-0")[-1].startswith("[submarine] " + reason)
        assert h.lines(eid, "worker-1")[-1].startswith("[submarine] " + reason)
        master = h.lines(eid, "master-0")
        assert master[-1].startswith(f"[submarine] stopped: {reason}")
        pids = [r["pid"] for r in h.probes(eid).values()]
        assert not [p for p in pids if alive(p)]


async def test_stop_mid_run_leaves_no_process(tmp_path: Path) -> None:
    """Not a replica, nor its grandchild, nor one that ignores SIGTERM, nor a daemon."""
    async with harness(tmp_path, grace_period=0.3) as h:
        eid = h.submit(
            make_spec(
                "TensorFlow",
                {
                    "Ps": {"cmd": probe("--dump", "--ignore-term", "--grandchild", "--sleep")},
                    "Worker": {"replicas": 2, "cmd": probe("--dump", "--grandchild", "--sleep")},
                    "Evaluator": {"cmd": probe("--dump", "--ignore-term", "--daemon", "--sleep")},
                },
            )
        )
        await h.until_logged(eid, "SLEEPING", pods=4)
        groups = h.recorded_pids(eid)
        pids = [r["pid"] for r in h.probes(eid).values()]
        spawned = [g for _, lines in h.pod_logs(eid) for g in grandchildren(lines)]
        assert sorted(groups) == sorted(pids)
        assert len(spawned) == 4
        daemon = grandchildren(h.lines(eid, "evaluator-0"))[0]
        assert os.getpgid(daemon) != h.probes(eid)[f"{eid}-evaluator-0"]["pgid"]
        assert all(alive(p) for p in pids + spawned)
        directory = h.settings.data_dir / "experiments" / eid

        await h.runner.stop(eid)

        assert [p for p in pids + spawned if alive(p)] == []
        assert [g for g in groups if group_members(g)] == []
        # stop writes no status (the caller deletes the record) and keeps the files.
        assert h.store.history[eid] == ["Accepted", "Created", "Running"]
        assert h.lines(eid, "worker-0")[0].startswith("PROBE ")
        h.runner.discard_files(eid)
        assert not directory.exists()


async def test_deleting_a_queued_experiment_drops_it(tmp_path: Path) -> None:
    async with harness(tmp_path, cpus=1) as h:
        release = tmp_path / "release"
        first = h.submit(
            make_spec(
                "PyTorch",
                {"Master": {"resources": "cpu=1"}},
                cmd=probe("--wait-file", str(release)),
            )
        )
        second = h.submit(make_spec("PyTorch", {"Master": {"resources": "cpu=1"}}, cmd=probe()))
        await h.until_status(first, "Running")
        await h.delete(second)
        release.touch()
        assert await h.until_status(first) == "Succeeded"
        assert h.store.history[second] == ["Accepted"]
        assert not (h.settings.data_dir / "experiments" / second).exists()


async def test_close_with_stop_experiments_fails_running_ones_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    stubborn = probe("--dump", "--ignore-term", "--grandchild", "--sleep")
    async with harness(tmp_path, grace_period=0.3, cpus=1) as h:
        running = h.submit(
            make_spec("TensorFlow", {"Worker": {"resources": "cpu=1", "cmd": stubborn}})
        )
        queued = h.submit(make_spec("TensorFlow", {"Worker": {"resources": "cpu=1"}}, cmd=probe()))
        await h.until_logged(running, "SLEEPING")
        pids = [r["pid"] for r in h.probes(running).values()]
        pids += grandchildren(h.lines(running, "worker-0"))
        assert len(pids) == 2

        await h.runner.close()

        assert h.status(running) == "Failed"
        assert h.lines(running, "worker-0")[-1] == (
            "[submarine] stopped: the server stopped; the experiment failed"
        )
        assert [p for p in pids if alive(p)] == []
        assert h.status(queued) == "Accepted"
        assert h.store.history[queued] == ["Accepted"]


async def test_two_live_experiments_of_one_name_are_kept_apart(tmp_path: Path) -> None:
    """Pods, directories and the marks that find a replica's daemons go by id alone."""
    async with harness(tmp_path) as h:
        twins = [
            h.submit(
                make_spec(
                    "PyTorch",
                    {"Master": {}},
                    cmd=probe("--dump", "--daemon", "--sleep"),
                    name="twin",
                )
            )
            for _ in range(2)
        ]
        for eid in twins:
            await h.until_logged(eid, "SLEEPING")
        reports = [h.probes(eid)[f"{eid}-master-0"] for eid in twins]
        assert [r["env"]["JOB_ID"] for r in reports] == twins
        assert len({r["env"]["SUBMARINE_TENSORBOARD_LOG_DIR"] for r in reports}) == 2
        first, second = twins
        gone = [reports[0]["pid"], *grandchildren(h.lines(first, "master-0"))]
        kept = [reports[1]["pid"], *grandchildren(h.lines(second, "master-0"))]
        assert len(gone) == len(kept) == 2

        await h.delete(first)

        assert [pid for pid in gone if alive(pid)] == []
        assert all(alive(pid) for pid in kept)  # the twin's daemon is not the deleted one's
        assert h.status(second) == "Running"
        assert h.lines(second, "master-0")[0].startswith("PROBE ")


async def test_process_scans_run_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanners: set[int] = set()
    original = ProcessFamily.scan

    def spy(self: ProcessFamily) -> Members:
        scanners.add(threading.get_ident())
        return original(self)

    monkeypatch.setattr(ProcessFamily, "scan", spy)
    async with harness(tmp_path) as h:
        eid = h.submit(make_spec("PyTorch", {"Master": {}}, cmd=probe("--dump", "--sleep")))
        await h.until_logged(eid, "SLEEPING")
        await h.runner.stop(eid)  # a scan of every process, until the replica is gone
    assert scanners
    assert threading.get_ident() not in scanners  # the event loop runs in this thread

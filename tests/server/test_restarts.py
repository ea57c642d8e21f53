"""Runs that outlive the server: a stopped server leaves its replicas running, and its next
start on the same data dir adopts them, follows their logs and learns their exit codes.

Real servers, real replicas; every wait is on a state, with a deadline."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec, wait_until

from .api_support import API, create, ok, wait_status
from .runner_support import alive

pytestmark = pytest.mark.slow

TRAINING = """
import os, sys, time
import submarine
gate = sys.argv[1]
print("PID", os.getpid(), flush=True)
step = 0
while True:
    submarine.log_metric("loss", 1.0 / (step + 1), step=step)
    print("step", step, flush=True)
    if os.path.exists(gate):
        break
    step += 1
    time.sleep(0.2)
print("last step", step, flush=True)
"""
"""Logs a metric every 0.2 s until the gate file exists."""

FAILING = """
import os, sys, time
gate = sys.argv[1]
print("PID", os.getpid(), flush=True)
while not os.path.exists(gate):
    time.sleep(0.05)
sys.exit(3)
"""
"""Exits with code 3 once the gate file exists."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def script(tmp_path: Path, name: str, text: str, *args: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return " ".join(["python", str(path), *args])


def log_lines(server: RunningServer, experiment_id: str) -> list[str]:
    """The worker's log lines, read from the data dir (the server may be down)."""
    log = server.data_dir / "experiments" / experiment_id / "logs" / f"{experiment_id}-worker-0.log"
    return log.read_text().splitlines() if log.exists() else []


def steps(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("step ")]


def replica_pid(server: RunningServer, experiment_id: str) -> int:
    return int(
        wait_until(
            lambda: next(
                (x.split()[1] for x in log_lines(server, experiment_id) if x.startswith("PID ")),
                None,
            ),
            what=f"the replica of {experiment_id} to say its pid",
        )
    )


def started_on_a_fixed_port(server_factory: ServerFactory) -> RunningServer:
    # The replicas send metrics to the server's address: the restart keeps its port.
    return server_factory.start("--port", str(free_port()), "--grace-period", "0.5")


def test_a_run_outlives_a_restart_and_keeps_every_metric_step(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = started_on_a_fixed_port(server_factory)
    gate = tmp_path / "gate"
    spec = make_spec(cmd=script(tmp_path, "train.py", TRAINING, str(gate)))
    spec["meta"]["envVars"] = {"SUBMARINE_TRACKING_EXIT_TIMEOUT": "120"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        experiment_id = create(http, spec)["experimentId"]
        wait_status(http, experiment_id, {"Running"})
    pid = replica_pid(server, experiment_id)
    wait_until(lambda: len(steps(log_lines(server, experiment_id))) >= 3, what="three steps")

    server.stop()  # SIGTERM: a clean stop leaves the run running

    assert alive(pid)
    assert f"leaves 1 experiment(s) running: {experiment_id}" in server.log()
    assert f"kill -TERM -- -{pid}" in server.log()
    before = max(steps(log_lines(server, experiment_id)))
    wait_until(
        lambda: max(steps(log_lines(server, experiment_id))) > before + 2,
        what="the replica to train on while the server is down",
    )

    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert ok(http.get(f"{API}/{experiment_id}"))["status"] == "Running"
        assert "adopted its 1 replicas" in server.log()
        gate.touch()
        done = wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=120)
        assert done["status"] == "Succeeded", log_lines(server, experiment_id)
        assert done["reason"] is None
        lines = ok(http.get(f"{API}/logs/{experiment_id}"))["logContent"][0]["podLog"]
        last = int(next(x for x in lines if x.startswith("last step ")).split()[2])
        # The log was followed from where it was: every step once, in order.
        assert steps(lines) == list(range(last + 1))
        metrics = ok(http.post("/api/metric/selective", json={"id": experiment_id}))
        assert sorted(m["step"] for m in metrics if m["key"] == "loss") == list(range(last + 1))
    assert not alive(pid)


def test_a_replica_that_fails_while_the_server_is_down_fails_with_its_exit_code(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start("--grace-period", "0.5")
    gate = tmp_path / "gate"
    spec = make_spec(cmd=script(tmp_path, "fail.py", FAILING, str(gate)))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        experiment_id = create(http, spec)["experimentId"]
        wait_status(http, experiment_id, {"Running"})
    pid = replica_pid(server, experiment_id)

    server.stop()
    gate.touch()
    wait_until(lambda: not alive(pid), what="the replica to exit while the server is down")

    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        done = wait_status(http, experiment_id, {"Succeeded", "Failed"})
        reason = f"replica {experiment_id}-worker-0 exited with code 3"
        assert (done["status"], done["reason"]) == ("Failed", reason)
        assert (
            log_lines(server, experiment_id)[-1] == f"[submarine] {reason}; the experiment failed"
        )
        listed = ok(http.get(API))
        assert [e["reason"] for e in listed if e["experimentId"] == experiment_id] == [reason]
    # The reason is stored: a further restart still says it.
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert ok(http.get(f"{API}/{experiment_id}"))["reason"] == reason


def test_after_a_kill_9_the_next_start_adopts_the_run(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start("--grace-period", "0.5")
    gate = tmp_path / "gate"
    spec = make_spec(
        "TensorFlow",
        {"Ps": {}, "Worker": {"replicas": 2}},
        cmd=script(tmp_path, "fail.py", FAILING, str(gate)),
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        experiment_id = create(http, spec)["experimentId"]
        wait_status(http, experiment_id, {"Running"})
    server.kill()  # no clean stop: nothing is said, the replicas run on

    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert ok(http.get(f"{API}/{experiment_id}"))["status"] == "Running"
        # A delete stops the adopted replicas as any others.
        pids = _replica_pids(server, experiment_id)
        assert len(pids) == 3
        assert all(alive(pid) for pid in pids)
        assert ok(http.delete(f"{API}/{experiment_id}"))["status"] == "Deleted"
        assert [pid for pid in pids if alive(pid)] == []


def _replica_pids(server: RunningServer, experiment_id: str) -> list[int]:
    state = json.loads((server.data_dir / "experiments" / experiment_id / "state.json").read_text())
    return [int(record["facts"]["pgid"]) for record in state["replicas"].values()]


def test_stop_experiments_stops_the_runs_with_the_server(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start("--grace-period", "0.5", "--stop-experiments")
    spec = make_spec(cmd=script(tmp_path, "fail.py", FAILING, str(tmp_path / "never")))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        experiment_id = create(http, spec)["experimentId"]
        wait_status(http, experiment_id, {"Running"})
    pid = replica_pid(server, experiment_id)
    server.stop()
    assert not alive(pid)
    assert "leaves" not in server.log()
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer: dict[str, Any] = ok(http.get(f"{API}/{experiment_id}"))
        assert (answer["status"], answer["reason"]) == ("Failed", "the server stopped")


def test_the_supervisor_outlives_the_server_and_is_no_member_of_the_replica(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start("--grace-period", "0.5")
    spec = make_spec(cmd=script(tmp_path, "fail.py", FAILING, str(tmp_path / "never")))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        experiment_id = create(http, spec)["experimentId"]
        wait_status(http, experiment_id, {"Running"})
    pid = replica_pid(server, experiment_id)
    supervisor = psutil.Process(pid).parent()
    assert supervisor is not None
    parent = supervisor.parent()
    assert parent is not None
    assert parent.pid == server.process.pid
    assert "JOB_ID" not in supervisor.environ()
    assert os.getpgid(supervisor.pid) != os.getpgid(pid) == pid
    server.stop()
    assert psutil.Process(pid).parent() == supervisor  # still the replica's parent

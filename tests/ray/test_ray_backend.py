"""The Ray backend against a real Ray cluster of three nodes on this machine: distributed
examples spread over distinct nodes, gang placement that waits for resources, a node lost
mid-run, delete leaving nothing on the cluster, runs that a restart of the server adopts.

Replicas that must stay up block until the test creates a file; every wait polls a state
with a generous deadline (a cluster on two busy cores is slow)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.conftest import RunningServer, ServerFactory
from tests.ray.cluster import RayCluster
from tests.ray.conftest import ray_args
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0
PYTHON = shlex.quote(sys.executable)


def create(server: RunningServer, spec: dict[str, Any]) -> str:
    response = httpx.post(f"{server.url}/api/v1/experiment", json=spec, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["experimentId"])


def status(server: RunningServer, experiment_id: str) -> str:
    response = httpx.get(f"{server.url}/api/v1/experiment/{experiment_id}", timeout=30)
    return str(response.json()["result"]["status"])


def pod_logs(server: RunningServer, experiment_id: str) -> dict[str, list[str]]:
    response = httpx.get(f"{server.url}/api/v1/experiment/logs/{experiment_id}", timeout=30)
    return {p["podName"]: p["podLog"] for p in response.json()["result"]["logContent"]}


def wait_for_status(server: RunningServer, experiment_id: str, *wanted: str) -> str:
    found = wait_until(
        lambda: (s := status(server, experiment_id)) in wanted and s,
        what=f"{experiment_id} to be {' or '.join(wanted)}",
        timeout=DEADLINE,
        interval=0.2,
    )
    return str(found)


def wait_for_lines(
    server: RunningServer, experiment_id: str, pattern: str, count: int
) -> dict[str, re.Match[str]]:
    """Wait until ``count`` pods have a line matching ``pattern``; the first match of each."""

    def matched() -> dict[str, re.Match[str]] | None:
        found = {}
        for pod, lines in pod_logs(server, experiment_id).items():
            for line in lines:
                if match := re.search(pattern, line):
                    found[pod] = match
                    break
        return found if len(found) >= count else None

    return wait_until(
        matched, what=f"{count} pods to log {pattern!r}", timeout=DEADLINE, interval=0.2
    )


def processes_of(experiment_id: str) -> list[int]:
    """Processes of this machine that carry the experiment's JOB_ID."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("JOB_ID") == experiment_id:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def assert_nothing_left(cluster: RayCluster, experiment_id: str) -> None:
    def clean() -> bool:
        left = cluster.leftovers()
        ours = [n for n in left["actors"] + left["groups"] if experiment_id in n]
        return not ours and not processes_of(experiment_id)

    wait_until(
        clean,
        what=f"no actor, placement group or process of {experiment_id}",
        timeout=DEADLINE,
        interval=0.5,
    )


def node_ids(cluster: RayCluster) -> dict[str, str]:
    """Node name (its ``node-<name>`` resource) -> Ray node id, of alive nodes."""
    found: dict[str, str] = cluster.query(
        "result = {k.removeprefix('node-'): n['NodeID'] for n in ray.nodes() if n['Alive']"
        " for k in n['Resources'] if k.startswith('node-')}"
    )
    return found


def test_ps_digits_trains_over_distinct_nodes(ray_server: RunningServer) -> None:
    spec = yaml.safe_load((ROOT / "examples" / "ps-digits.yaml").read_text())
    train = spec["meta"]["cmd"].replace("--step-time 0.1", "--step-time 0")
    train = train.replace("python examples/", f"{PYTHON} {ROOT}/examples/")
    spec["meta"]["cmd"] = f"sh -c {shlex.quote('echo node=$SUBMARINE_NODE; exec ' + train)}"
    experiment_id = create(ray_server, spec)

    assert wait_for_status(ray_server, experiment_id, "Succeeded", "Failed") == "Succeeded"
    logs = pod_logs(ray_server, experiment_id)
    nodes = {lines[0] for lines in logs.values()}
    assert len(nodes) == 3, logs  # Ps and both Workers, each on its own node
    accuracies = [
        float(line.split(":")[1])
        for lines in logs.values()
        for line in lines
        if line.startswith("final accuracy:")
    ]
    assert len(accuracies) == 2, logs
    assert min(accuracies) >= 0.9, accuracies


PYTORCH_PAIR = """
import os, socket, sys, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
print("node", os.environ["SUBMARINE_NODE"], "rank", rank, "world", world, flush=True)
if rank == 0:
    server = socket.create_server(("", port))
    conn, _ = server.accept()
    peer = conn.recv(64).decode()
    conn.sendall(b"hello worker")
    print("master got", peer, flush=True)
else:
    end = time.monotonic() + 90
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)
    conn.sendall(f"rank {rank}".encode())
    print("worker got", conn.recv(64).decode(), flush=True)
"""


def test_pytorch_master_and_worker_reach_each_other(
    ray_server: RunningServer, tmp_path: Path
) -> None:
    script = tmp_path / "pair.py"
    script.write_text(PYTORCH_PAIR)
    spec = make_spec(
        cmd=f"python {script}",
        framework="PyTorch",
        roles={"Master": 1, "Worker": 1},
        resources="cpu=500m,memory=64M",
    )
    experiment_id = create(ray_server, spec)

    assert wait_for_status(ray_server, experiment_id, "Succeeded", "Failed") == "Succeeded"
    logs = pod_logs(ray_server, experiment_id)
    master = logs[f"{experiment_id}-master-0"]
    worker = logs[f"{experiment_id}-worker-0"]
    assert re.fullmatch(r"node \w+ rank 0 world 2", master[0]), master
    assert re.fullmatch(r"node \w+ rank 1 world 2", worker[0]), worker
    assert master[0].split()[1] != worker[0].split()[1]  # distinct nodes
    assert "master got rank 1" in master
    assert "worker got hello worker" in worker


def test_each_node_clones_the_git_code_and_runs_in_it(
    ray_server: RunningServer, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "hello.py").write_text(
        "import os\n"
        "print('in', os.getcwd() == os.environ['CODE_PATH'], os.environ['SUBMARINE_NODE'])\n"
    )
    for args in (
        ("init", "--quiet", "--initial-branch", "main"),
        ("add", "."),
        ("commit", "-qm", "x"),
    ):
        subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    spec = make_spec(cmd="python hello.py", roles={"Worker": 2})
    spec["code"] = {"syncMode": "git", "git": {"url": repo.as_uri(), "branch": "main"}}
    experiment_id = create(ray_server, spec)

    assert wait_for_status(ray_server, experiment_id, "Succeeded", "Failed") == "Succeeded"
    logs = pod_logs(ray_server, experiment_id)
    firsts = [lines[0].split() for lines in logs.values()]
    assert [words[:2] for words in firsts] == [["in", "True"], ["in", "True"]], logs
    assert firsts[0][2] != firsts[1][2]  # cloned on two nodes


def test_delete_mid_run_leaves_nothing(
    ray_server: RunningServer, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    gate = tmp_path / "never"
    spec = make_spec(
        cmd=f"python -c {shlex.quote(GATED.format(gate=str(gate)))}",
        roles={"Ps": 1, "Worker": 2},
    )
    experiment_id = create(ray_server, spec)
    wait_for_lines(ray_server, experiment_id, r"^waiting on (\w+)$", 3)
    assert processes_of(experiment_id)

    response = httpx.delete(f"{ray_server.url}/api/v1/experiment/{experiment_id}", timeout=60)
    assert response.json()["result"]["status"] == "Deleted"

    assert_nothing_left(ray_cluster, experiment_id)


GATED = """
import os, time
print("waiting on", os.environ["SUBMARINE_NODE"], flush=True)
end = time.monotonic() + 300
while not os.path.exists({gate!r}) and time.monotonic() < end:
    time.sleep(0.05)
print("released", flush=True)
"""


TICKING = """
import os, time
step = 0
while not os.path.exists({gate!r}):
    print("tick", step, flush=True)
    step += 1
    time.sleep(0.1)
print("released", flush=True)
"""


def ticks(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("tick ")]


def test_a_stopped_server_leaves_the_run_and_the_next_start_adopts_it(
    ray_cluster: RayCluster, server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start(*ray_args(ray_cluster))
    gate = tmp_path / "gate"
    spec = make_spec(cmd=f"python -c {shlex.quote(TICKING.format(gate=str(gate)))}")
    experiment_id = create(server, spec)
    wait_for_status(server, experiment_id, "Running")
    wait_for_lines(server, experiment_id, r"^tick 3$", 1)

    server.stop()  # a clean stop: the actor and its replica run on

    assert f"leaves 1 experiment(s) running: {experiment_id}" in server.log()
    left = ray_cluster.leftovers()
    assert [n for n in left["actors"] if experiment_id in n] == [f"{experiment_id}-worker-0"]
    assert processes_of(experiment_id)
    server.restart()
    assert status(server, experiment_id) == "Running"
    gate.touch()
    assert wait_for_status(server, experiment_id, "Succeeded", "Failed") == "Succeeded"
    (lines,) = pod_logs(server, experiment_id).values()
    # What the replica printed while the server was down was kept by its actor.
    assert ticks(lines) == list(range(max(ticks(lines)) + 1)), lines
    assert "released" in lines
    server.stop()
    assert_nothing_left(ray_cluster, experiment_id)


def test_a_replica_that_fails_while_the_server_is_down_fails_its_run_after_a_restart(
    ray_cluster: RayCluster, server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start(*ray_args(ray_cluster))
    gate = tmp_path / "gate"
    failing = GATED.format(gate=str(gate)) + "raise SystemExit(3)\n"
    spec = make_spec(cmd=f"python -c {shlex.quote(failing)}", roles={"Ps": 1, "Worker": 1})
    experiment_id = create(server, spec)
    wait_for_lines(server, experiment_id, r"^waiting on (\w+)$", 2)

    server.kill()  # a crash: the detached actors run on
    gate.touch()
    wait_until(
        lambda: not processes_of(experiment_id),
        what="the replicas to exit while the server is down",
        timeout=DEADLINE,
        interval=0.2,
    )
    server.restart()

    assert wait_for_status(server, experiment_id, "Succeeded", "Failed") == "Failed"
    answer = httpx.get(f"{server.url}/api/v1/experiment/{experiment_id}", timeout=30).json()
    assert answer["result"]["reason"] in {
        f"replica {experiment_id}-{pod}-0 exited with code 3" for pod in ("ps", "worker")
    }
    assert_nothing_left(ray_cluster, experiment_id)


def test_more_gpus_than_the_cluster_has_waits_until_a_gpu_node_joins(
    ray_server: RunningServer, ray_cluster: RayCluster
) -> None:
    spec = make_spec(
        cmd="python -c \"import os; print('gpus', os.environ.get('CUDA_VISIBLE_DEVICES'))\"",
        resources="cpu=1,nvidia.com/gpu=1",
    )
    experiment_id = create(ray_server, spec)
    found = wait_for_lines(ray_server, experiment_id, r"waiting for the Ray cluster: (.*)", 1)
    (match,) = found.values()
    assert "needs 1 gpus in all, the cluster has 0" in match.group(1)
    assert status(ray_server, experiment_id) == "Accepted"

    ray_cluster.add_node("gpu", cpus=1, gpus=1)

    assert wait_for_status(ray_server, experiment_id, "Succeeded", "Failed") == "Succeeded"
    (lines,) = pod_logs(ray_server, experiment_id).values()
    assert "gpus 0" in lines


def test_a_node_lost_mid_run_fails_its_experiment_naming_the_node(
    ray_server: RunningServer, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    gate = tmp_path / "never"
    spec = make_spec(
        cmd=f"python -c {shlex.quote(GATED.format(gate=str(gate)))}", roles={"Ps": 1, "Worker": 2}
    )
    experiment_id = create(ray_server, spec)
    started = wait_for_lines(ray_server, experiment_id, r"^waiting on (\w+)$", 3)
    ids = node_ids(ray_cluster)
    on_nodes = {match.group(1) for match in started.values()}
    victim = next(n for n in ray_cluster.nodes if n.name != "head" and ids[n.name] in on_nodes)

    victim.kill()

    assert wait_for_status(ray_server, experiment_id, "Succeeded", "Failed") == "Failed"
    lines = [line for pod in pod_logs(ray_server, experiment_id).values() for line in pod]
    lost = [line for line in lines if "was lost" in line]
    assert lost, lines
    assert ids[victim.name] in lost[0]
    assert_nothing_left(ray_cluster, experiment_id)

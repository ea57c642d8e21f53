"""Run the example training jobs for real, as the processes a cluster would start, without a server.

Each test starts the example script once per task with the environment the training operators
(and the local server) give it -- ``TF_CONFIG`` for the parameter-server job, ``MASTER_ADDR``,
``MASTER_PORT``, ``WORLD_SIZE`` and ``RANK`` for PyTorch -- on free local ports, waits for every
process under one deadline, and checks exit codes and what the job printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PS_SCRIPT = REPO / "examples" / "ps_digits" / "train.py"
DDP_SCRIPT = REPO / "examples" / "pytorch_ddp" / "train.py"
DEADLINE_S = 120.0
MIN_ACCURACY = 0.85
FINAL_ACCURACY = re.compile(r"^final accuracy: (\d\.\d+)$", re.MULTILINE)
STEP_PROGRESS = re.compile(r"^step \d+ loss \d+\.\d+ accuracy \d\.\d+$", re.MULTILINE)
DISTRIBUTED_VARIABLES = ("TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")


@dataclass(frozen=True)
class Finished:
    """A process that has exited: its exit code and its combined stdout and stderr."""

    returncode: int
    output: str


def free_ports(count: int) -> list[int]:
    """Pick ``count`` distinct free local ports by binding port 0 on all of them at once."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without distributed-training variables, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if key not in DISTRIBUTED_VARIABLES}
    return {**env, **extra}


def run_together(
    script: Path, tasks: dict[str, dict[str, str]], tmp_path: Path
) -> dict[str, Finished]:
    """Run ``script`` once per task, each with its extra environment, and wait for them all.

    Args:
        script: the training script.
        tasks: task name -> extra environment variables of that process, in start order.
        tmp_path: where to keep each process's output.

    Fails the test if any process is still running ``DEADLINE_S`` seconds after the start.
    """
    deadline = time.monotonic() + DEADLINE_S
    logs = {name: tmp_path / f"{name}.log" for name in tasks}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, extra in tasks.items():
            with logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, str(script)],
                    cwd=REPO,
                    env=clean_env(extra),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        for name, process in processes.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                outputs = {task: log.read_text() for task, log in logs.items()}
                pytest.fail(f"{name} still running after {DEADLINE_S:.0f} s; output: {outputs}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return {
        name: Finished(processes[name].returncode, logs[name].read_text()) for name in processes
    }


def final_accuracy(output: str) -> float:
    """The value of the single ``final accuracy: ...`` line in ``output``."""
    values = FINAL_ACCURACY.findall(output)
    assert len(values) == 1, f"expected one 'final accuracy:' line, got {values}:\n{output}"
    return float(values[0])


def assert_all_succeeded(finished: dict[str, Finished]) -> None:
    """Fail, showing every process's output, unless every process exited 0."""
    codes = {name: result.returncode for name, result in finished.items()}
    outputs = "\n".join(f"--- {name}\n{result.output}" for name, result in finished.items())
    assert all(code == 0 for code in codes.values()), f"exit codes {codes}\n{outputs}"


def tf_config(cluster: dict[str, list[str]], task_type: str, index: int) -> str:
    """A ``TF_CONFIG`` value, as the TFJob operator writes it."""
    task = {"type": task_type, "index": index}
    return json.dumps({"cluster": cluster, "task": task, "environment": "cloud"})


def test_ps_job_trains_across_a_ps_and_two_workers(tmp_path: Path) -> None:
    ps_port, worker0_port, worker1_port = free_ports(3)
    cluster = {
        "ps": [f"127.0.0.1:{ps_port}"],
        "worker": [f"127.0.0.1:{worker0_port}", f"127.0.0.1:{worker1_port}"],
    }
    # The workers start first: they must keep retrying until the ps is listening.
    finished = run_together(
        PS_SCRIPT,
        {
            "worker-0": {"TF_CONFIG": tf_config(cluster, "worker", 0)},
            "worker-1": {"TF_CONFIG": tf_config(cluster, "worker", 1)},
            "ps-0": {"TF_CONFIG": tf_config(cluster, "ps", 0)},
        },
        tmp_path,
    )

    assert_all_succeeded(finished)
    # Each worker reports; the chief's figure is the final model's, after both were done.
    assert final_accuracy(finished["worker-0"].output) > MIN_ACCURACY
    assert final_accuracy(finished["worker-1"].output) > MIN_ACCURACY
    for worker in ("worker-0", "worker-1"):
        assert len(STEP_PROGRESS.findall(finished[worker].output)) >= 2, finished[worker].output
    assert "all 2 workers done" in finished["ps-0"].output


@pytest.mark.parametrize(
    "extra_env",
    [
        pytest.param({}, id="no-TF_CONFIG"),
        pytest.param(
            {"TF_CONFIG": tf_config({"worker": ["127.0.0.1:2222"]}, "worker", 0)},
            id="single-task-TF_CONFIG",
        ),
    ],
)
def test_ps_job_trains_alone_in_a_single_process(extra_env: dict[str, str], tmp_path: Path) -> None:
    finished = run_together(PS_SCRIPT, {"local": extra_env}, tmp_path)

    assert_all_succeeded(finished)
    assert final_accuracy(finished["local"].output) > MIN_ACCURACY
    assert STEP_PROGRESS.search(finished["local"].output), finished["local"].output


def test_pytorch_ddp_job_trains_across_a_master_and_a_worker(tmp_path: Path) -> None:
    pytest.importorskip(
        "torch",
        reason="PyTorch is an optional extra (pip install -e '.[pytorch]'), not in CI's venv",
    )
    (port,) = free_ports(1)
    common = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
    finished = run_together(
        DDP_SCRIPT,
        {"master-0": {**common, "RANK": "0"}, "worker-0": {**common, "RANK": "1"}},
        tmp_path,
    )

    assert_all_succeeded(finished)
    assert final_accuracy(finished["master-0"].output) > MIN_ACCURACY
    assert "final accuracy:" not in finished["worker-0"].output

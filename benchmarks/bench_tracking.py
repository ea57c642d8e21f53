"""Goal 11: what ``submarine.log_metric`` costs a training loop.

A training loop of 10,000 steps of the parameter-server example's own step (a softmax
regression of the digits, a minibatch of 32: ``loss_and_gradients`` and an SGD update) runs
with one ``log_metric("loss", ...)`` call a step, sending to a real local server (the
background thread posts batches while the loop runs, and the rest is flushed before the
clock stops), and without. Both loops run in one fresh interpreter that sees the environment
a replica gets (``JOB_ID``, ``SUBMARINE_TRACKING_URI``), alternating ABBA. The goal: under
5% more time. The server's count of stored metrics checks that every call arrived.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from benchmarks.context import Context
from benchmarks.harness import Goal, Pair, Row, Stats
from benchmarks.servers import Server

__all__ = ["LOOP", "run"]

LOOP = """\
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import submarine
from submarine import tracking
from train import Dataset, init_params, load_split, loss_and_gradients

steps, repeats = int(sys.argv[2]), int(sys.argv[3])
train_set, _ = load_split()
rng = np.random.default_rng(0)
batches = [rng.choice(len(train_set.y), size=32, replace=False) for _ in range(64)]

def loop(log):
    params = init_params()
    cpu = time.process_time()
    start = time.perf_counter()
    for step in range(steps):
        rows = batches[step % len(batches)]
        loss, grads = loss_and_gradients(params, Dataset(train_set.x[rows], train_set.y[rows]))
        params = [p - 0.5 * g for p, g in zip(params, grads)]
        if log:
            submarine.log_metric("loss", loss, step=step)
    if log:
        tracking.flush()
    return time.perf_counter() - start, time.process_time() - cpu

loop(True), loop(False)  # warm up (and open the connection)
logged, plain = [], []
for index in range(repeats):
    if index % 2 == 0:
        logged.append(loop(True)); plain.append(loop(False))
    else:
        plain.append(loop(False)); logged.append(loop(True))
print(json.dumps({"logged": logged, "plain": plain}))
"""


def run(ctx: Context) -> None:
    """Time the loop with and without ``log_metric`` against a local server."""
    steps = ctx.size(10_000, 200)
    repeats = ctx.size(7, 1)
    with Server(ctx.scratch("tracking")) as server:
        spec = {
            "meta": {"name": "tracking-bench", "framework": "TensorFlow", "cmd": "true"},
            "environment": {"image": "local"},
            "spec": {"Worker": {"replicas": 1, "resources": "cpu=100m,memory=64M"}},
        }
        answer = httpx.post(f"{server.url}/api/v1/experiment", json=spec, timeout=30).json()
        experiment_id = answer["result"]["experimentId"]
        env = {"JOB_ID": experiment_id, "SUBMARINE_TRACKING_URI": server.url}
        ctx.log(f"tracking: {repeats} x 2 loops of {steps} steps, logging to {server.url}")
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                LOOP,
                str(ctx.repo / "examples" / "ps_digits"),
                str(steps),
                str(repeats),
            ],
            env={**_base_env(), **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the tracking loop failed: {done.stderr[-2000:]}")
        times = json.loads(done.stdout.strip().splitlines()[-1])
        stored = httpx.post(
            f"{server.url}/api/metric/selective", json={"id": experiment_id}, timeout=60
        ).json()["result"]
    expected = steps * (repeats + 1)
    if len(stored) != expected:
        raise RuntimeError(f"the server stored {len(stored)} metrics, expected {expected}")
    pair = Pair(
        Stats.of([wall for wall, _ in times["logged"]]),
        Stats.of([wall for wall, _ in times["plain"]]),
    )
    cpu = Pair(
        Stats.of([used for _, used in times["logged"]]),
        Stats.of([used for _, used in times["plain"]]),
    )
    ctx.add(
        Row.paired(
            "11",
            f"training loop of {steps} steps with `log_metric` each step (sent to a local server)",
            "the same loop without logging",
            pair,
            goal=Goal(1.05),
        )
    )
    ctx.add(
        Row.paired(
            "11b",
            "CPU time of that training process (both threads), with `log_metric`",
            "the same without logging",
            cpu,
            note="evidence: what the calls and the sender thread cost the training process "
            "itself; the rest of 11's wall-clock difference is the server, on the same cores",
        )
    )
    per_call = (pair.candidate.median - pair.baseline.median) / steps
    cpu_per_call = (cpu.candidate.median - cpu.baseline.median) / steps
    ctx.note(
        f"tracking: {per_call * 1e6:.1f} µs of wall clock ({cpu_per_call * 1e6:.1f} µs of the "
        "training process's CPU) per log_metric call in a loop whose step takes "
        f"{pair.baseline.median / steps * 1e6:.0f} µs; all {len(stored)} metrics arrived"
    )


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("SUBMARINE_")}

"""Goal 11: what ``submarine.log_metric`` costs a training loop.

A training loop of 10,000 steps of the parameter-server example's own step (a softmax
regression of the digits, a minibatch of 32: ``loss_and_gradients`` and an SGD update,
about 100 µs) runs with one ``log_metric("loss", ...)`` call a step, sending to a real local
server (the background thread posts batches while the loop runs; the rest is flushed before
the clock stops), and without, in one fresh interpreter that sees the environment a replica
gets (``JOB_ID``, ``SUBMARINE_TRACKING_URI``). The goal (11): under 5% more time.

The numpy step's own speed drifts by up to 2x from one second to the next on a shared
machine, far more than the cost being measured, so the goal's figure accounts for the
logged loop directly: the time spent inside the calls and the final flush, plus the CPU the
sender thread took (it holds the interpreter while it encodes), against the rest of the
loop. Whole loops with and without logging, alternating ABBA, are reported too (11b), as
are the calls alone (no training). The server's count of stored metrics checks that every
call arrived.
"""

from __future__ import annotations

import json
import os
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
clock = time.perf_counter

def loop(log):
    params = init_params()
    start = clock()
    for step in range(steps):
        rows = batches[step % len(batches)]
        loss, grads = loss_and_gradients(params, Dataset(train_set.x[rows], train_set.y[rows]))
        params = [p - 0.5 * g for p, g in zip(params, grads)]
        if log:
            submarine.log_metric("loss", loss, step=step)
    if log:
        tracking.flush()
    return clock() - start

def accounted():
    # The logged loop, with the time spent in tracking measured as it is spent.
    params, inside = init_params(), 0.0
    process, thread, start = time.process_time(), time.thread_time(), clock()
    for step in range(steps):
        rows = batches[step % len(batches)]
        loss, grads = loss_and_gradients(params, Dataset(train_set.x[rows], train_set.y[rows]))
        params = [p - 0.5 * g for p, g in zip(params, grads)]
        before = clock()
        submarine.log_metric("loss", loss, step=step)
        inside += clock() - before
    before = clock()
    tracking.flush()
    inside += clock() - before
    total = clock() - start
    sender = (time.process_time() - process) - (time.thread_time() - thread)
    return total, inside + sender

loop(True), loop(False)  # warm up (and open the connection)
logged, plain, direct = [], [], []
for index in range(repeats):
    if index % 2 == 0:
        logged.append(loop(True)); plain.append(loop(False))
    else:
        plain.append(loop(False)); logged.append(loop(True))
for _ in range(repeats // 3):
    direct.append(accounted())
calls = []  # the calls alone: what each costs the process, sending included
for _ in range(repeats // 3):
    cpu = time.process_time()
    for step in range(steps):
        submarine.log_metric("loss", 0.5, step=step)
    tracking.flush()
    calls.append(time.process_time() - cpu)
print(json.dumps({"logged": logged, "plain": plain, "direct": direct, "calls": calls}))
"""


def run(ctx: Context) -> None:
    """Time the loop with and without ``log_metric`` against a local server."""
    steps = ctx.size(10_000, 200)
    repeats = ctx.size(24, 3)  # whole loops drift: many pairs for 11b
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
    expected = steps * (repeats + 2 * (repeats // 3) + 1)
    if len(stored) != expected:
        raise RuntimeError(f"the server stored {len(stored)} metrics, expected {expected}")
    pair = Pair(Stats.of(times["logged"]), Stats.of(times["plain"]))
    totals = [total for total, _ in times["direct"]]
    spent = [tracking for _, tracking in times["direct"]]
    ctx.add(
        Row.paired(
            "11",
            f"training loop of {steps} steps with `log_metric` each step (sent to a local "
            "server), as it ran",
            "the same loop less the time it spent in tracking (calls, final flush, sender "
            "thread's CPU)",
            Pair(Stats.of(totals), Stats.of([t - s for t, s in zip(totals, spent, strict=True)])),
            goal=Goal(1.05),
            note="the overhead accounted for directly, free of the machine's drift between "
            "loops; not counted: the server's work on the other core",
        )
    )
    ctx.add(
        Row.paired(
            "11b",
            f"the whole loop of {steps} steps with `log_metric`, alternating ABBA with",
            "the same loop without logging",
            pair,
            note="evidence: the same cost as a difference of two whole loops, where the numpy "
            "step's drift between loops (up to 2x here) is larger than what is measured",
        )
    )
    alone = Stats.of(times["calls"]).median / steps
    tracking_per_call = Stats.of(spent).median / steps
    ctx.note(
        f"tracking: in a loop whose step takes {pair.baseline.median / steps * 1e6:.0f} µs, "
        f"{tracking_per_call * 1e6:.1f} µs a call was spent in tracking (calls, flush, sender "
        f"thread); the calls alone, sending included, cost the process {alone * 1e6:.1f} µs "
        f"of CPU each; all {len(stored)} metrics arrived"
    )


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SUBMARINE_")}

"""Goal 11: create to Running on a 3-node Ray cluster against the local backend, and the
per-experiment overhead of the Ray backend.

A Ray cluster of three nodes (``ray start --block`` each, in process groups this benchmark
owns and kills; never ``ray stop``) runs on this machine, and two servers on the same spec
take turns: one with ``--backend ray`` on the cluster, one with local processes. Each
sample is one experiment, from the create call until ``get_experiment`` (polled every
5 ms) says Running; it is then deleted. 12.1 is one replica; 12.2 is three (Ps + 2 Workers,
one per node with ``--ray-placement STRICT_SPREAD``). The overhead is the difference of the
medians. 12.3 is create until Succeeded of one replica that runs ``true``, where what the
Ray backend adds before the command starts (the replica's launcher among it) is most of
the figure. 12.4 needs no cluster: a fresh interpreter that runs the Ray replica's launcher
(``python -m submarine.server.run.raybackend.orphan``) until it becomes ``true``, against
``python -c pass``: the launcher's own cost, imports included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx

from benchmarks.context import Context
from benchmarks.harness import Row, alternate
from benchmarks.servers import Server

__all__ = ["run"]

_BLOCK = 'python -c "import select; select.select([], [], [], 600)"'
_POLL = 0.005
_LAUNCHER = "submarine.server.run.raybackend.orphan"


def _spec(roles: dict[str, int], cmd: str = _BLOCK) -> dict[str, Any]:
    return {
        "meta": {"name": "ray-bench", "framework": "TensorFlow", "cmd": cmd},
        "environment": {"image": "local"},
        "spec": {r: {"replicas": n, "resources": "cpu=0.1,memory=64M"} for r, n in roles.items()},
    }


def _create_until(url: str, spec: dict[str, Any], wanted: str) -> float:
    """Seconds from the create call until the experiment is ``wanted`` (then deleted)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        created = client.post("/api/v1/experiment", json=spec)
        created.raise_for_status()
        experiment_id = created.json()["result"]["experimentId"]
        deadline = started + 120
        while True:
            status = client.get(f"/api/v1/experiment/{experiment_id}").json()["result"]["status"]
            if status == wanted:
                break
            if status in ("Failed", "Succeeded") or time.perf_counter() > deadline:
                raise RuntimeError(f"experiment {experiment_id} is {status}, not {wanted}")
            time.sleep(_POLL)
        seconds = time.perf_counter() - started
        client.delete(f"/api/v1/experiment/{experiment_id}").raise_for_status()
        return seconds


def _run(argv: list[str]) -> float:
    """Seconds until ``argv`` has run to its end (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=tempfile.gettempdir(), capture_output=True, check=False, timeout=120
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited with {done.returncode}: {done.stderr[-1500:]!r}")
    return seconds


def _launcher(ctx: Context) -> None:
    """12.4: the Ray replica's launcher until it becomes ``true``, against ``python -c pass``."""
    ctx.log("ray: the replica launcher's start-up")
    launcher = [sys.executable, "-m", _LAUNCHER, str(os.getpid()), "true"]
    pair = alternate(
        lambda: _run(launcher),
        lambda: _run([sys.executable, "-c", "pass"]),
        warmup=1,
        repeats=ctx.size(15, 1),
    )
    ctx.add(
        Row.paired(
            "12.4",
            f"`python -m {_LAUNCHER} PID true` (the launcher of a Ray replica, imports included)",
            "`python -c pass`",
            pair,
            note="what a Ray replica's command waits for on its node before it starts, "
            f"{(pair.candidate.median - pair.baseline.median) * 1000:.0f} ms more than a bare "
            "interpreter (median)",
        )
    )


def run(ctx: Context) -> None:
    """Measure the launcher, then create to Running and to Succeeded with both backends."""
    from tests.ray.cluster import RayCluster

    _launcher(ctx)
    repeats = ctx.size(10, 1)
    cluster = RayCluster()
    try:
        ctx.log("ray: starting a 3-node Ray cluster")
        started = time.perf_counter()
        cluster.start_head(cpus=2)
        cluster.add_node("a", cpus=2)
        cluster.add_node("b", cpus=2)
        took = time.perf_counter() - started
        ctx.note(f"the 3-node local Ray cluster took {took:.1f} s to start")
        ray_args = ("--backend", "ray", "--ray-address", cluster.address)
        ray_args += ("--ray-placement", "STRICT_SPREAD", "--grace-period", "1")
        with (
            Server(ctx.scratch("ray-backend"), *ray_args) as ray_server,
            Server(ctx.scratch("ray-local"), "--grace-period", "1") as local,
        ):
            for key, roles, label in (
                ("12.1", {"Worker": 1}, "one replica"),
                ("12.2", {"Ps": 1, "Worker": 2}, "Ps + 2 Workers, one per node"),
            ):
                ctx.log(f"ray: create to Running, {label}")
                spec = _spec(roles)
                pair = alternate(
                    lambda spec=spec: _create_until(ray_server.url, spec, "Running"),
                    lambda spec=spec: _create_until(local.url, spec, "Running"),
                    warmup=1,
                    repeats=repeats,
                )
                overhead = pair.candidate.median - pair.baseline.median
                ctx.add(
                    Row(
                        key,
                        f"create to Running, {label}, Ray backend on a 3-node local cluster",
                        "the local backend (processes), same spec",
                        "s",
                        pair.candidate,
                        pair.baseline,
                        pair.ratio,
                        None,
                        note=f"Ray backend overhead {overhead * 1000:.0f} ms per experiment "
                        f"(median over {pair.candidate.count})",
                    )
                )
            ctx.log("ray: create to Succeeded, one replica that runs true")
            spec = _spec({"Worker": 1}, cmd="true")
            pair = alternate(
                lambda: _create_until(ray_server.url, spec, "Succeeded"),
                lambda: _create_until(local.url, spec, "Succeeded"),
                warmup=1,
                repeats=repeats,
            )
            ctx.add(
                Row.paired(
                    "12.3",
                    "create to Succeeded, one replica running `true`, Ray backend on a 3-node "
                    "local cluster",
                    "the local backend (processes), same spec",
                    pair,
                    note=f"{pair.candidate.median:.2f} s from create to Succeeded on Ray "
                    f"(median over {pair.candidate.count}), against "
                    f"{pair.baseline.median * 1000:.0f} ms with local processes",
                )
            )
    finally:
        cluster.close()

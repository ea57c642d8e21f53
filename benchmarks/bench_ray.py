"""Goal 11: create to Running on a 3-node Ray cluster against the local backend, and the
per-experiment overhead of the Ray backend.

A Ray cluster of three nodes (``ray start --block`` each, in process groups this benchmark
owns and kills; never ``ray stop``) runs on this machine, and two servers on the same spec
take turns: one with ``--backend ray`` on the cluster, one with local processes. Each
sample is one experiment, from the create call until ``get_experiment`` (polled every
5 ms) says Running; it is then deleted. 12.1 is one replica; 12.2 is three (Ps + 2 Workers,
one per node with ``--ray-placement STRICT_SPREAD``). The overhead is the difference of the
medians.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from benchmarks.context import Context
from benchmarks.harness import Row, alternate
from benchmarks.servers import Server

__all__ = ["run"]

_BLOCK = 'python -c "import select; select.select([], [], [], 600)"'
_POLL = 0.005


def _spec(roles: dict[str, int]) -> dict[str, Any]:
    return {
        "meta": {"name": "ray-bench", "framework": "TensorFlow", "cmd": _BLOCK},
        "environment": {"image": "local"},
        "spec": {r: {"replicas": n, "resources": "cpu=0.1,memory=64M"} for r, n in roles.items()},
    }


def _create_to_running(url: str, spec: dict[str, Any]) -> float:
    """Seconds from the create call until the experiment is Running (then deleted)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        created = client.post("/api/v1/experiment", json=spec)
        created.raise_for_status()
        experiment_id = created.json()["result"]["experimentId"]
        deadline = started + 120
        while True:
            status = client.get(f"/api/v1/experiment/{experiment_id}").json()["result"]["status"]
            if status == "Running":
                break
            if status in ("Failed", "Succeeded") or time.perf_counter() > deadline:
                raise RuntimeError(f"experiment {experiment_id} is {status}, not Running")
            time.sleep(_POLL)
        seconds = time.perf_counter() - started
        client.delete(f"/api/v1/experiment/{experiment_id}").raise_for_status()
        return seconds


def run(ctx: Context) -> None:
    """Measure create to Running with both backends."""
    from tests.ray.cluster import RayCluster

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
                    lambda spec=spec: _create_to_running(ray_server.url, spec),
                    lambda spec=spec: _create_to_running(local.url, spec),
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
    finally:
        cluster.close()

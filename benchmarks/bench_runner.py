"""Goals 6 and 7: create to Succeeded, and creates per second, on the local server.

6: a one-replica experiment running ``true``, from the create call until the client sees
Succeeded -- once through ``wait_for_finish`` (which, with the local server's log-stream
extension, answers as soon as the status changes) and once polling ``get_experiment`` every
5 ms. The baseline is spawning ``true`` directly.

7: creates per second from 1 client and from 8 concurrent clients (threads of one worker
process, each with its own client and connection), against ``ping`` per second with the
same clients on the same server.
"""

from __future__ import annotations

import subprocess
from functools import partial
from typing import Any

from benchmarks.context import Context
from benchmarks.harness import Goal, Row, Stats, alternate, measure
from benchmarks.servers import Server, Worker

__all__ = ["ONE_TRUE", "run"]

ONE_TRUE: dict[str, Any] = {
    "meta": {"name": "one-true", "framework": "TensorFlow", "cmd": "true"},
    "environment": {"image": "local"},
    "spec": {"Worker": {"replicas": 1, "resources": "cpu=0.1,memory=64M"}},
}
"""One replica that runs ``true``."""


def _until_done(ctx: Context, worker: Worker, mode: str, count: int) -> Stats:
    samples = []
    for _ in range(count):
        answer = worker.call(op="until_done", spec=ONE_TRUE, mode=mode, poll=0.005, timeout=60)
        if answer["status"].lower() != "succeeded":
            raise RuntimeError(
                f"experiment {answer['id']} ended {answer['status']!r}, not Succeeded"
            )
        samples.append(float(answer["seconds"]))
    return Stats.of(samples)


def _per_call(worker: Worker, what: str, clients: int, n: int) -> float:
    """Seconds per call of ``n`` calls of ``what`` shared by ``clients`` concurrent clients."""
    answer = worker.call(op="concurrent", what=what, clients=clients, n=n, spec=ONE_TRUE)
    return float(answer["seconds"]) / n


def run(ctx: Context) -> None:
    """Measure create-to-Succeeded and create throughput."""
    count = ctx.size(20, 2)
    data = ctx.scratch("runner")
    spawn = measure(lambda: subprocess.run(["true"], check=True), warmup=2, repeats=count, inner=1)
    with Server(data) as server, Worker("ours", server.url) as ours:
        ours.call(op="until_done", spec=ONE_TRUE, mode="wait", poll=0.005, timeout=60)
        for key, mode, label in (
            ("6.1", "wait", "`wait_for_finish`"),
            ("6.2", "poll", "polling `get_experiment` every 5 ms"),
        ):
            ctx.log(f"runner: create to Succeeded, {label}")
            stats = _until_done(ctx, ours, mode, count)
            ctx.add(
                Row(
                    key,
                    f"create to Succeeded, one `true` replica, seen by {label}",
                    "spawning `true` directly",
                    "s",
                    stats,
                    spawn,
                    Stats.of([s / spawn.median for s in stats.samples]),
                    Goal(0.3, on="value"),
                    note=f"p95 {stats.p95 * 1000:.0f} ms over {stats.count} experiments",
                )
            )

        repeats = ctx.size(3, 1)
        for key, clients, n in (("7.1", 1, ctx.size(60, 4)), ("7.2", 8, ctx.size(160, 8))):
            ctx.log(f"runner: creates per second, {clients} client(s)")
            pair = alternate(
                partial(_per_call, ours, "create", clients, n),
                partial(_per_call, ours, "ping", clients, n),
                warmup=0,
                repeats=repeats,
            )
            ctx.add(
                Row(
                    key,
                    f"creates per second, {clients} client{'s' if clients > 1 else ''}",
                    "`ping` per second, same clients",
                    "/s",
                    pair.candidate.inverted(),
                    pair.baseline.inverted(),
                    pair.ratio,
                    None,
                    note="ratio is time per create over time per ping",
                )
            )

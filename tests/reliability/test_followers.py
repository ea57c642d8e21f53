"""Many idle log followers cost the server next to nothing (issue 11, item 12).

Before: each long poll of the log-stream extension looked at the log files ten times a
second on the event loop; 100 idle followers pushed ping to 64 ms. Now waiting followers
sleep on an event, and one watcher per server looks at the files of the experiments
being followed. The test holds 100 long polls on a running, silent experiment, pings,
and measures the server's CPU time; then it deletes the experiment and every follower
must be answered at once (an event, not the end of its 30 s wait). Latencies and CPU are
reported, not asserted tightly (2 shared cores).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

import httpx
import psutil
import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer
from tests.support import make_spec, wait_until

from .conftest import Figures, python_cmd

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

FOLLOWERS = 100
WAIT = 30
IDLE_WINDOW = 2.0


def _pings(server: RunningServer, count: int) -> list[float]:
    times = []
    with httpx.Client(timeout=30) as http:
        for _ in range(count):
            started = time.monotonic()
            assert http.get(f"{server.url}/api/v1/experiment/ping").status_code == 200
            times.append(time.monotonic() - started)
    return sorted(times)


def _established(server: RunningServer) -> int:
    port = httpx.URL(server.url).port
    connections = psutil.Process(server.process.pid).net_connections(kind="tcp")
    return sum(
        1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
    )


class Followers(threading.Thread):
    """``count`` concurrent long polls of one experiment's log-stream, each once."""

    def __init__(self, server: RunningServer, experiment_id: str, count: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{server.url}/api/v1/experiment/{experiment_id}/log-stream"
        self.count = count
        self.answers: list[tuple[int, float]] = []

    def run(self) -> None:
        asyncio.run(self._follow())

    async def _follow(self) -> None:
        limits = httpx.Limits(max_connections=self.count + 10)
        async with httpx.AsyncClient(timeout=WAIT + 30, limits=limits) as http:

            async def one() -> None:
                answer = await http.get(self.url, params={"wait": WAIT})
                self.answers.append((answer.status_code, time.monotonic()))

            await asyncio.gather(*(one() for _ in range(self.count)))


def test_a_hundred_idle_followers_leave_ping_fast_and_wake_at_once(
    module_server: RunningServer, figures: Figures
) -> None:
    silent = python_cmd("import time; time.sleep(600)")
    with ExperimentClient(module_server.url) as client:
        experiment_id = client.create_experiment(
            make_spec(name="followed", cmd=silent)
        ).experiment_id
        wait_until(
            lambda: client.get_experiment(experiment_id).status.value == "Running",
            what="the experiment to run",
        )
    quiet = _pings(module_server, 50)
    baseline = _established(module_server)
    followers = Followers(module_server, experiment_id, FOLLOWERS)
    followers.start()
    wait_until(
        lambda: _established(module_server) >= baseline + FOLLOWERS,
        what=f"{FOLLOWERS} followers to connect",
    )
    loaded = _pings(module_server, 100)
    # The CPU the idle followers cost, over a window of IDLE_WINDOW s without requests.
    process = psutil.Process(module_server.process.pid)
    cpu_before, wall_before = sum(process.cpu_times()[:2]), time.monotonic()
    threading.Event().wait(IDLE_WINDOW)  # a measuring window, not a synchronisation
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    wall = time.monotonic() - wall_before
    assert not followers.answers, "a follower was answered before anything happened"
    figures.set(
        "followers: ping median / max, none (ms)",
        f"{statistics.median(quiet) * 1000:.1f} / {quiet[-1] * 1000:.1f}",
    )
    figures.set(
        f"followers: ping median / max, {FOLLOWERS} idle followers (ms)",
        f"{statistics.median(loaded) * 1000:.1f} / {loaded[-1] * 1000:.1f}",
    )
    figures.set(
        f"followers: server CPU with {FOLLOWERS} idle followers (% of one core)",
        round(100 * cpu / wall, 1),
    )
    assert cpu / wall < 0.08, f"{FOLLOWERS} idle followers cost {100 * cpu / wall:.0f}% of a core"
    deleted_at = time.monotonic()
    with ExperimentClient(module_server.url) as client:
        client.delete_experiment(experiment_id)
    followers.join(WAIT + 60)
    assert not followers.is_alive()
    assert len(followers.answers) == FOLLOWERS
    # Answered with what there was, or as the experiment now is: gone.
    assert {code for code, _ in followers.answers} <= {200, 404}
    woke = max(at for _, at in followers.answers) - deleted_at
    figures.set(f"followers: all {FOLLOWERS} answered after the delete (s)", round(woke, 2))
    assert woke < WAIT / 2, f"followers were answered {woke:.1f} s after the delete"

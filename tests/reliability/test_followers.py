"""Many idle log followers cost the server next to nothing (issue 11, item 12).

Before: each long poll of the log-stream extension looked at the log files ten times a
second on the event loop; 100 idle followers pushed ping to 64 ms. Now waiting followers
sleep on an event, and one watcher per server looks at the files of the experiments
being followed. The test holds 100 long polls on a running, silent experiment; an idle
poll is answered only when its wait runs out (then its follower polls again). Then it
deletes the experiment: every poll that was waiting is answered, and those with at least
``LEFT`` seconds of their wait left are answered before it ran out: woken by the delete,
not by the clock. What the followers cost (ping
latency with and without them, the server's CPU time) is a figure of the report, not a
pass mark: on two shared cores it measures the machine as much as the server.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass

import httpx
import psutil
import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer
from tests.support import make_spec, wait_until

from .conftest import Figures, python_cmd

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

FOLLOWERS = 100
WAIT = 30.0
"""The followers' long-poll wait: the longest the server grants."""
LEFT = 10.0
"""A poll with at least this much of its wait left at the delete must be woken by it: an
answer before its wait ran out came from the delete, not the clock. The delete comes when
every follower waits and at least half of their polls have that much left (on a loaded
machine the followers' polls spread out, so "all of them fresh at once" may never come)."""
SLACK = 0.5
"""How much sooner than WAIT an answer may come and still count as the end of the wait (the
server's timer and this process's clock are not the same clock)."""
IDLE_WINDOW = 2.0


def _pings(server: RunningServer, count: int) -> list[float]:
    times = []
    with httpx.Client(timeout=30) as http:
        for _ in range(count):
            started = time.monotonic()
            assert http.get(f"{server.url}/api/v1/experiment/ping").status_code == 200
            times.append(time.monotonic() - started)
    return sorted(times)


def _cpu_share(process: psutil.Process) -> float:
    """The share of one core the process used over IDLE_WINDOW seconds."""
    cpu_before, wall_before = sum(process.cpu_times()[:2]), time.monotonic()
    threading.Event().wait(IDLE_WINDOW)  # a measuring window, not a synchronisation
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    return cpu / (time.monotonic() - wall_before)


def _established(server: RunningServer) -> int:
    port = httpx.URL(server.url).port
    connections = psutil.Process(server.process.pid).net_connections(kind="tcp")
    return sum(
        1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
    )


@dataclass
class Poll:
    """One long poll: when it was sent and answered, and what the answer said."""

    sent: float
    answered: float | None = None
    code: int | None = None
    status: str | None = None

    @property
    def waited(self) -> float:
        assert self.answered is not None
        return self.answered - self.sent


class Followers(threading.Thread):
    """``count`` concurrent followers of one experiment's log-stream. Each long-polls, and
    polls again when its wait ran out with the experiment still running, until an answer
    says the experiment is over or gone."""

    def __init__(self, server: RunningServer, experiment_id: str, count: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{server.url}/api/v1/experiment/{experiment_id}/log-stream"
        self.polls: list[list[Poll]] = [[] for _ in range(count)]
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._follow())
        except Exception as exc:  # kept for the test to report, not left to the thread hook
            self.error = exc

    async def _follow(self) -> None:
        limits = httpx.Limits(max_connections=len(self.polls) + 10)
        async with httpx.AsyncClient(timeout=WAIT + 60, limits=limits) as http:

            async def follow(polls: list[Poll]) -> None:
                while True:
                    poll = Poll(time.monotonic())
                    polls.append(poll)
                    answer = await http.get(self.url, params={"wait": WAIT})
                    poll.answered = time.monotonic()
                    poll.code = answer.status_code
                    if answer.status_code == 200:
                        poll.status = answer.json()["result"]["status"]
                    if poll.status != "Running":
                        return

            await asyncio.gather(*(follow(polls) for polls in self.polls))

    def waiting(self) -> list[Poll]:
        """The poll each follower waits on now (of those that wait)."""
        return [polls[-1] for polls in self.polls if polls and polls[-1].answered is None]

    def ready(self) -> list[Poll] | None:
        """Every follower's waiting poll, once every follower waits and at least half of the
        polls have LEFT seconds of their wait left."""
        waiting = self.waiting()
        if len(waiting) < len(self.polls):
            return None
        now = time.monotonic()
        roomy = [p for p in waiting if now - p.sent <= WAIT - LEFT]
        return waiting if 2 * len(roomy) >= len(waiting) else None


def test_a_hundred_idle_followers_cost_little_and_wake_at_once(
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
    process = psutil.Process(module_server.process.pid)
    quiet = _pings(module_server, 50)
    quiet_cpu = _cpu_share(process)
    baseline = _established(module_server)
    followers = Followers(module_server, experiment_id, FOLLOWERS)
    followers.start()
    wait_until(
        lambda: _established(module_server) >= baseline + FOLLOWERS,
        what=f"{FOLLOWERS} followers to connect",
    )
    loaded = _pings(module_server, 100)
    loaded_cpu = _cpu_share(process)
    figures.set(
        "followers: ping median / max, none (ms)",
        f"{statistics.median(quiet) * 1000:.1f} / {quiet[-1] * 1000:.1f}",
    )
    figures.set(
        f"followers: ping median / max, {FOLLOWERS} idle followers (ms)",
        f"{statistics.median(loaded) * 1000:.1f} / {loaded[-1] * 1000:.1f}",
    )
    figures.set(
        f"followers: ping median with {FOLLOWERS} idle followers / without (x)",
        round(statistics.median(loaded) / statistics.median(quiet), 2),
    )
    figures.set(
        f"followers: server CPU without / with {FOLLOWERS} idle followers (% of one core)",
        f"{100 * quiet_cpu:.1f} / {100 * loaded_cpu:.1f}",
    )

    woken = wait_until(
        followers.ready,
        what=lambda: f"{FOLLOWERS} waiting polls ({len(followers.waiting())} waiting)",
        timeout=3 * WAIT,
    )
    deleted_at = time.monotonic()
    with ExperimentClient(module_server.url) as client:
        client.delete_experiment(experiment_id)
    followers.join(WAIT + 60)
    assert not followers.is_alive()
    assert followers.error is None, f"a follower failed: {followers.error!r}"

    answered = [poll for polls in followers.polls for poll in polls]
    # Before the delete an idle poll is answered only when its wait runs out.
    early = [
        p for p in answered if p.answered and p.answered < deleted_at and p.waited < WAIT - SLACK
    ]
    assert not early, f"{len(early)} idle polls were answered before their wait ran out"
    # Every follower heard that the experiment is over: gone, or no longer running.
    finals = [polls[-1] for polls in followers.polls]
    assert {p.code for p in finals} <= {200, 404}
    assert all(p.status != "Running" for p in finals)
    # The polls that waited at the delete were all answered; those with room left were
    # answered after it and before their wait ran out.
    assert all(p.answered is not None for p in woken)
    roomy = [p for p in woken if deleted_at - p.sent <= WAIT - LEFT]
    assert roomy, "no poll had room left at the delete"
    late = [p for p in roomy if not (p.answered and p.answered >= deleted_at)]
    assert not late, f"{len(late)} waiting polls were answered before the delete"
    slept = [p for p in roomy if p.waited >= WAIT - SLACK]
    assert not slept, (
        f"{len(slept)} of {len(roomy)} polls with {LEFT:g} s of their wait left at the delete "
        "were answered only when their wait ran out"
    )
    woke = max(p.answered or 0.0 for p in woken) - deleted_at
    figures.set(f"followers: all {FOLLOWERS} answered after the delete (s)", round(woke, 2))

"""Replicas that misbehave: ignore SIGTERM, fork children, daemonize, flood stdout.

Delete and a shutdown with ``--stop-experiments`` must each leave no process behind (checked
by pid with psutil), a restart after kill -9 adopts the replicas the dead server left (and a
delete then stops them all), and while a replica writes ~100 MB the server must answer
every ping and keep the whole flood. How fast it answers is a figure of the report (ping
during the flood against ping before it, on the same server), not a pass mark: on two
cores shared with other work, latencies measure the machine as much as the server.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec, wait_until

from .conftest import Figures, alive, descendants, python_cmd

pytestmark = pytest.mark.reliability

GRACE = 0.5
"""The servers here give replicas this long between SIGTERM and SIGKILL."""

STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
kids = [
    subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    for _ in range(2)
]
print("pids", os.getpid(), *[k.pid for k in kids], flush=True)
time.sleep(600)
"""
"""A replica that ignores SIGTERM, with two children that ignore it too."""

DAEMON = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
read_end, write_end = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(write_end, str(os.getpid()).encode())
        os.close(write_end)
        time.sleep(600)
    os._exit(0)
os.wait()
os.close(write_end)
daemon = int(os.read(read_end, 32))
print("pids", os.getpid(), daemon, flush=True)
time.sleep(600)
"""
"""A replica that double-forks a grandchild into a session of its own (a daemon)."""


def _flood_code(megabytes: int, release: Path) -> str:
    """A replica that writes ``megabytes`` MB to stdout as fast as it can, says so, then
    waits for ``release`` to exist (so the test, not the disk, decides when it ends)."""
    return (
        "import os, sys, threading\n"
        "line = b'x' * 1023 + b'\\n'\n"
        "block = line * 1024\n"
        f"for _ in range({megabytes}):\n"
        "    sys.stdout.buffer.write(block)\n"
        "sys.stdout.buffer.flush()\n"
        "print('flood done', flush=True)\n"
        f"while not os.path.exists({str(release)!r}):\n"
        "    threading.Event().wait(0.01)\n"
    )


@pytest.fixture
def started(server_factory: ServerFactory) -> Iterator[tuple[RunningServer, ExperimentClient]]:
    server = server_factory.start("--grace-period", str(GRACE))
    with ExperimentClient(server.url, timeout=30.0) as client:
        yield server, client


@pytest.fixture
def stopping(server_factory: ServerFactory) -> Iterator[tuple[RunningServer, ExperimentClient]]:
    """A server whose stop stops its experiments too (``--stop-experiments``)."""
    server = server_factory.start("--grace-period", str(GRACE), "--stop-experiments")
    with ExperimentClient(server.url, timeout=30.0) as client:
        yield server, client


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    """Pids the replicas reported; any still alive at teardown are killed (by pid)."""
    pids: list[int] = []
    yield pids
    import psutil

    for pid in alive(pids):
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            continue


def _launch(
    client: ExperimentClient, name: str, code: str, pids: list[int]
) -> tuple[str, list[int]]:
    """Create an experiment running ``code``; wait for its ``pids`` line; return id and pids."""
    experiment = client.create_experiment(make_spec(name=name, cmd=python_cmd(code)))

    def reported() -> list[int] | None:
        for pod in client.get_log(experiment.experiment_id, stream=io.StringIO()).pods:
            for line in pod.lines:
                if line.startswith("pids "):
                    return [int(word) for word in line.split()[1:]]
        return None

    found = wait_until(reported, what=f"the pids of {name}")
    pids.extend(found)
    assert alive(found) == found
    return experiment.experiment_id, found


@pytest.mark.bounded
def test_delete_stops_a_replica_that_ignores_sigterm_and_its_children(
    started: tuple[RunningServer, ExperimentClient], spawned: list[int], figures: Figures
) -> None:
    server, client = started
    experiment_id, pids = _launch(client, "stubborn", STUBBORN, spawned)
    assert len(pids) == 3
    began = time.monotonic()
    # SIGTERM is ignored: without SIGKILL after the grace period the delete would never be
    # answered (the client gives up after 30 s).
    assert client.delete_experiment(experiment_id).status_name == "Deleted"
    took = round(time.monotonic() - began, 2)
    figures.set("replicas: delete of a replica that ignores SIGTERM (s)", took)
    # The answer comes once every process is gone.
    assert alive(pids) == []
    assert not descendants(server.process.pid)
    figures.add("replicas: processes leaked", len(alive(pids)))


def test_delete_stops_a_daemonized_grandchild(
    started: tuple[RunningServer, ExperimentClient], spawned: list[int], figures: Figures
) -> None:
    _, client = started
    experiment_id, pids = _launch(client, "daemonizer", DAEMON, spawned)
    client.delete_experiment(experiment_id)
    leaked = alive(pids)
    figures.add("replicas: daemonized grandchildren left by delete", len(leaked))
    wait_until(lambda: not alive(pids), what=lambda: f"the daemon {alive(pids)} to end")


@pytest.mark.bounded
def test_shutdown_stops_every_replica_and_child(
    stopping: tuple[RunningServer, ExperimentClient], spawned: list[int], figures: Figures
) -> None:
    server, client = stopping
    _, first = _launch(client, "stubborn-a", STUBBORN, spawned)
    _, second = _launch(client, "stubborn-b", STUBBORN, spawned)
    # uvicorn re-raises the SIGTERM after its graceful shutdown: -15 is a clean exit.
    assert server.stop() in (0, -15)
    wait_until(
        lambda: not alive(first + second), what=lambda: f"pids {alive(first + second)} to end"
    )
    figures.add("replicas: processes leaked", len(alive(first + second)))


def test_shutdown_stops_a_daemonized_grandchild(
    stopping: tuple[RunningServer, ExperimentClient], spawned: list[int], figures: Figures
) -> None:
    server, client = stopping
    _, pids = _launch(client, "daemonizer", DAEMON, spawned)
    server.stop()
    figures.add("replicas: daemonized grandchildren left by shutdown", len(alive(pids)))
    wait_until(lambda: not alive(pids), what=lambda: f"the daemon {alive(pids)} to end")


@pytest.mark.bounded
def test_a_restart_after_kill9_adopts_what_the_dead_server_left(
    started: tuple[RunningServer, ExperimentClient], spawned: list[int], figures: Figures
) -> None:
    server, client = started
    experiment_id, pids = _launch(client, "orphaned", STUBBORN, spawned)
    server.kill()
    assert alive(pids) == pids, "replicas live in sessions of their own: a crash leaves them"
    server.restart()
    with ExperimentClient(server.url) as fresh:
        assert fresh.get_experiment(experiment_id).status_name == "Running"
        assert alive(pids) == pids  # adopted, not stopped
        # The adopted replicas, which ignore SIGTERM, are stopped as any others.
        assert fresh.delete_experiment(experiment_id).status_name == "Deleted"
    assert alive(pids) == []
    figures.add("replicas: processes leaked", len(alive(pids)))


MIN_PINGS = 20
"""Pings measured at least: before the flood, and while it is written and after it."""


def _pings(client: ExperimentClient, count: int) -> list[float]:
    """The latency of ``count`` pings, each of which must be answered."""
    latencies = []
    for _ in range(count):
        began = time.monotonic()
        assert client.ping()
        latencies.append(time.monotonic() - began)
    return latencies


def _ping_until(
    client: ExperimentClient, flooded: Callable[[], bool], limit: float
) -> tuple[list[float], int]:
    """Ping until ``flooded()`` and at least MIN_PINGS pings; (every latency, how many
    pings were answered before the flood was written)."""
    latencies: list[float] = []
    during = -1
    deadline = time.monotonic() + limit
    while during < 0 or len(latencies) < MIN_PINGS:
        assert time.monotonic() < deadline, f"the flood was not written in {limit}s"
        began = time.monotonic()
        assert client.ping()
        latencies.append(time.monotonic() - began)
        if during < 0 and flooded():
            during = len(latencies)
    return latencies, during


def _flood(
    server: RunningServer, client: ExperimentClient, figures: Figures, megabytes: int
) -> None:
    release = server.data_dir.parent / f"{server.data_dir.name}-release-flood"
    code = _flood_code(megabytes, release)
    quiet = statistics.median(_pings(client, MIN_PINGS))
    experiment = client.create_experiment(make_spec(name="flood", cmd=python_cmd(code)))
    logs = server.data_dir / "experiments" / experiment.experiment_id / "logs"

    def flooded() -> bool:
        return any(b"flood done" in p.read_bytes()[-200:] for p in logs.glob("*.log"))

    latencies, during = _ping_until(client, flooded, 120)
    assert client.get_experiment(experiment.experiment_id).status_name == "Running"
    release.touch()
    client.wait_for_finish(
        experiment.experiment_id, polling_interval=0.5, timeout=60, stream=io.StringIO()
    )
    final = client.get_experiment(experiment.experiment_id)
    assert final.status_name == "Succeeded"
    size = sum(p.stat().st_size for p in logs.glob("*.log"))
    assert size >= megabytes << 20
    worst = max(latencies)
    middle = statistics.median(latencies)
    figures.set(
        f"flood {megabytes} MB: ping median / max (ms)", f"{middle * 1000:.1f} / {worst * 1000:.1f}"
    )
    figures.set(f"flood {megabytes} MB: ping median before it (ms)", round(quiet * 1000, 1))
    figures.set(
        f"flood {megabytes} MB: ping median while written / before (x)", round(middle / quiet, 2)
    )
    figures.set(f"flood {megabytes} MB: pings while it was written", during)
    # A small experiment still runs normally.
    small = client.create_experiment(make_spec(name="after-flood", cmd="echo fine"))
    log = client.wait_for_finish(
        small.experiment_id, polling_interval=0.5, timeout=60, stream=io.StringIO()
    )
    assert [line for pod in log.pods for line in pod.lines][:1] == ["fine"]


@pytest.mark.bounded
def test_a_stdout_flood_does_not_stall_the_server(
    started: tuple[RunningServer, ExperimentClient], figures: Figures
) -> None:
    server, client = started
    _flood(server, client, figures, 100)

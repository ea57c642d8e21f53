"""One server per data dir, and a data dir only its user can read.

Issue 11, items 3 and 6. A second server started on the data dir of a running one (on its
port, which it cannot bind, or on another port) used to run crash recovery first: the
running experiments were failed, their replicas killed, their logs blamed a crash. Now the
second server finds the data dir locked, exits 2 naming the holder's pid and changes
nothing. The data dir is 0700 and the database (with its WAL and shared memory) and the pod
logs 0600, those an older version left readable included.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec, wait_until

from .conftest import Figures, alive, descendants, python_cmd

pytestmark = pytest.mark.reliability

BLOCKED = """
import os, sys, time
print("started", os.getpid(), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
print("released", flush=True)
"""
"""A replica that says it started, then waits until the test creates the file it names."""


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """(size, mtime in ns, mode) of every file and directory under ``root``."""
    found = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def first(server_factory: ServerFactory) -> RunningServer:
    return server_factory.start("--grace-period", "0.5")


@pytest.fixture
def client(first: RunningServer) -> Iterator[ExperimentClient]:
    with ExperimentClient(first.url, timeout=30.0) as made:
        yield made


def _second(first: RunningServer, port: str) -> subprocess.CompletedProcess[str]:
    """``python -m submarine.server`` on the first one's data dir; it must exit by itself."""
    env = {k: v for k, v in os.environ.items() if k not in ("SUBMARINE_TOKEN", "SUBMARINE_HOME")}
    command = [sys.executable, "-m", "submarine.server", "--host", "127.0.0.1"]
    command += ["--port", port, "--data-dir", str(first.data_dir), "--grace-period", "0.5"]
    return subprocess.run(
        command,
        cwd=first.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.bounded
def test_a_second_server_on_the_same_data_dir_exits_2_and_touches_nothing(
    first: RunningServer,
    client: ExperimentClient,
    tmp_path: Path,
    figures: Figures,
) -> None:
    release = tmp_path / "release"
    spec = make_spec(name="held", cmd=python_cmd(BLOCKED, str(release)))
    experiment_id = client.create_experiment(spec).experiment_id
    log_dir = first.data_dir / "experiments" / experiment_id / "logs"

    def started() -> list[str]:
        logs = list(log_dir.glob("*.log"))
        return [line for p in logs for line in p.read_text().splitlines() if "started" in line]

    line = wait_until(started, what="the replica to start")[0]
    replica = int(line.split()[1])
    wait_until(lambda: client.get_experiment(experiment_id).status == "Running", what="Running")
    before = _snapshot(first.data_dir)
    port = first.url.rsplit(":", 1)[1]

    for where, given_port in (("same port", port), ("another port", "0")):
        done = _second(first, given_port)
        assert done.returncode == 2, (where, done.returncode, done.stderr)
        expected = f"data dir {first.data_dir} is in use by the server with pid {first.process.pid}"
        assert expected in done.stderr, (where, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        figures.add("second servers refused")

    assert _snapshot(first.data_dir) == before, "the second server changed the data dir"
    assert alive([replica]) == [replica], "the first server's replica was stopped"
    assert replica in [p.pid for p in descendants(first.process.pid)]
    assert client.get_experiment(experiment_id).status == "Running"
    assert first.running

    release.touch()
    wait_until(lambda: client.get_experiment(experiment_id).status == "Succeeded", what="Succeeded")
    log = client.get_log(experiment_id, stream=io.StringIO())
    lines = [line for pod in log.pods for line in pod.lines]
    assert "released" in lines, lines
    assert not any("crash" in line or "[submarine]" in line for line in lines), lines


@pytest.mark.bounded
def test_the_lock_goes_with_its_server_even_after_kill_9(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start("--grace-period", "0.5")
    pid = server.process.pid
    lock = server.data_dir / "server.lock"
    assert lock.read_text().strip() == str(pid)
    server.kill()
    server.restart()  # the kernel dropped the lock with the process: no stale lock
    assert server.process.pid != pid
    assert lock.read_text().strip() == str(server.process.pid)


@pytest.mark.bounded
def test_the_data_dir_database_and_logs_are_private(
    first: RunningServer, client: ExperimentClient, figures: Figures
) -> None:
    experiment = client.create_experiment(make_spec(name="private", cmd="echo secret-output"))
    client.wait_for_finish(experiment.experiment_id, 0.5, timeout=60, stream=io.StringIO())
    data = first.data_dir
    logs = list((data / "experiments").glob("*/logs/*.log"))
    assert logs
    private = [data / "submarine.db", data / "submarine.db-wal", data / "server.lock", *logs]
    assert _mode(data) == 0o700
    assert {str(p): _mode(p) for p in private} == {str(p): 0o600 for p in private}
    assert _mode(data / "submarine.db-shm") == 0o600

    # What an older version left behind: everything readable by everyone. A restart fixes it.
    first.stop()
    data.chmod(0o755)
    for path in data.glob("submarine.db*"):
        path.chmod(0o644)
    for log in logs:
        log.chmod(0o644)
    first.restart()
    assert _mode(data) == 0o700
    databases = list(data.glob("submarine.db*"))
    assert {str(p): _mode(p) for p in [*databases, *logs]} == {
        str(p): 0o600 for p in [*databases, *logs]
    }
    figures.set("data dir / database / log modes", "0700 / 0600 / 0600")

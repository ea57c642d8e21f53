"""A cap on replica processes over all experiments, and queued experiments that say why.

Issue 11, item 12: replicas were capped per experiment but not in total, so enough
experiments of many replicas each started any number of processes; and a queued experiment
said nothing about what it waited for. Now ``--max-replicas`` caps the replicas running at
once (more wait in the queue, one that can never fit is refused with 400 and nothing
stored), and a queued experiment's pod logs say what it waits for.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec, wait_until

from .conftest import Figures, descendants, python_cmd, stored_count

pytestmark = pytest.mark.reliability

BLOCKED = """
import os, sys, time
print("replica up", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
"""


def _blocked(name: str, release: Path, replicas: int, cpus: str) -> dict[str, Any]:
    return make_spec(
        roles={"Worker": replicas},
        name=name,
        cmd=python_cmd(BLOCKED, str(release)),
        resources=f"cpu={cpus}",
    )


@pytest.fixture
def server(server_factory: ServerFactory) -> RunningServer:
    return server_factory.start("--cpus", "4", "--max-replicas", "3", "--grace-period", "0.5")


@pytest.fixture
def client(server: RunningServer) -> Iterator[ExperimentClient]:
    with ExperimentClient(server.url, timeout=30.0) as made:
        yield made


def _replicas(server: RunningServer) -> int:
    """Replica processes of the server now (BLOCKED ones)."""
    count = 0
    for process in descendants(server.process.pid):
        try:
            if "replica up" in " ".join(process.cmdline()):
                count += 1
        except Exception:  # gone meanwhile
            continue
    return count


def _text(client: ExperimentClient, experiment_id: str) -> list[str]:
    log = client.get_log(experiment_id, stream=io.StringIO())
    return [line for pod in log.pods for line in pod.lines]


@pytest.mark.bounded
def test_the_replica_cap_holds_over_all_experiments_and_the_queue_says_why(
    server: RunningServer, client: ExperimentClient, tmp_path: Path, figures: Figures
) -> None:
    releases = {name: tmp_path / f"release-{name}" for name in "abc"}
    a = client.create_experiment(_blocked("a", releases["a"], 2, "1")).experiment_id

    def status(experiment_id: str) -> str:
        return client.get_experiment(experiment_id).status_name

    def up(experiment_id: str, count: int) -> bool:
        return sum(line == "replica up" for line in _text(client, experiment_id)) == count

    wait_until(lambda: up(a, 2), what="a's two replicas")
    b = client.create_experiment(_blocked("b", releases["b"], 2, "1")).experiment_id
    c = client.create_experiment(_blocked("c", releases["c"], 1, "3")).experiment_id

    # One that could never run: refused, nothing stored.
    too_many = _blocked("too-many", releases["a"], 4, "100m")
    answer = httpx.post(f"{server.url}/api/v1/experiment", json=too_many)
    assert answer.status_code == 400
    assert "has 4 replicas but this server runs at most 3 at once" in answer.json()["message"]
    assert stored_count(server, "too-many") == 0

    # b fits the cpus (2 of 4 free) but not the cap (1 replica of 3 free); c waits behind it.
    assert (status(a), status(b), status(c)) == ("Running", "Accepted", "Accepted")
    said_b = [line for line in _text(client, b) if "waiting in the queue" in line]
    said_c = [line for line in _text(client, c) if "waiting in the queue" in line]
    assert (
        said_b
        == ["[submarine] waiting in the queue: needs 2 replicas, 1 free (at most 3 run at once)"]
        * 2
    )
    assert said_c == ["[submarine] waiting in the queue: needs 3 cpus, 2 free; 1 experiment ahead"]
    assert _replicas(server) == 2
    peak = 2

    releases["a"].touch()
    wait_until(lambda: up(b, 2), what="b's two replicas")
    assert status(a) == "Succeeded"
    assert status(c) == "Accepted"  # b holds 2 of 4 cpus; c needs 3
    peak = max(peak, _replicas(server))
    releases["b"].touch()
    wait_until(lambda: up(c, 1), what="c's replica")
    peak = max(peak, _replicas(server))
    releases["c"].touch()
    for experiment_id in (a, b, c):
        wait_until(lambda e=experiment_id: status(e) == "Succeeded", what=f"{experiment_id} done")
    assert peak <= 3
    figures.set("replica cap: most replicas seen running at once (cap 3)", peak)

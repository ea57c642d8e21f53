"""The ``reason`` field of Experiment answers: why an experiment waits (its place in the queue
and what it needs) or why it failed (the failing pod and how it ended), else null; in a
create, a get, a list and a patch answer, never in a delete answer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from submarine import ExperimentClient
from tests.conftest import ServerFactory
from tests.support import make_spec

from .api_support import API, SLEEPER, create, ok, wait_status

pytestmark = pytest.mark.slow


@pytest.fixture
def http(server_factory: ServerFactory) -> Iterator[httpx.Client]:
    server = server_factory.start("--cpus", "1", "--grace-period", "0.5")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_a_queued_experiment_says_what_it_waits_for(http: httpx.Client) -> None:
    blocker = create(http, make_spec(cmd=SLEEPER, resources="cpu=1"))
    wait_status(http, blocker["experimentId"], {"Running"})
    assert ok(http.get(f"{API}/{blocker['experimentId']}"))["reason"] is None

    first = create(http, make_spec(resources="cpu=1"))
    second = create(http, make_spec(resources="cpu=500m"))
    assert first["reason"] == "waiting in the queue: needs 1 cpus, 0 free"
    assert second["reason"] == "waiting in the queue: needs 0.5 cpus, 0 free; 1 experiment ahead"
    assert ok(http.get(f"{API}/{second['experimentId']}"))["reason"] == second["reason"]
    listed = {e["experimentId"]: e["reason"] for e in ok(http.get(API))}
    assert listed == {
        blocker["experimentId"]: None,
        first["experimentId"]: first["reason"],
        second["experimentId"]: second["reason"],
    }
    patched = make_spec(resources="cpu=1", name=second["spec"]["meta"]["name"])
    answer = ok(http.patch(f"{API}/{second['experimentId']}", json=patched))
    assert answer["reason"] == "waiting in the queue: needs 1 cpus, 0 free; 1 experiment ahead"

    # An experiment made from a template is answered the same way.
    template = {
        "name": "queued-template",
        "parameters": [],
        "experimentSpec": make_spec(resources="cpu=1", name="from-template"),
    }
    ok(http.post("/api/v1/template", json=template))
    submitted = ok(http.post(f"{API}/queued-template", json={"params": {}}))
    assert submitted["reason"] == "waiting in the queue: needs 1 cpus, 0 free; 2 experiments ahead"
    ok(http.delete(f"{API}/{submitted['experimentId']}"))

    deleted = ok(http.delete(f"{API}/{blocker['experimentId']}"))
    assert deleted["reason"] is None
    done = wait_status(http, first["experimentId"], {"Succeeded"})
    assert done["reason"] is None


def test_a_failed_experiment_names_the_failing_pod_and_its_exit_code(http: httpx.Client) -> None:
    spec = make_spec(
        "TensorFlow",
        {"Ps": {"cmd": SLEEPER}, "Worker": {"cmd": 'python -c "raise SystemExit(7)"'}},
        resources="cpu=100m",
    )
    experiment_id = create(http, spec)["experimentId"]
    done = wait_status(http, experiment_id, {"Failed", "Succeeded"})
    assert done["status"] == "Failed"
    assert done["reason"] == f"replica {experiment_id}-worker-0 exited with code 7"
    # The typed client reads the field (0.8.0's clients ignore it).
    with ExperimentClient(str(http.base_url)) as client:
        assert client.get_experiment(experiment_id).reason == done["reason"]
        listed = [e.reason for e in client.list_experiments() if e.experiment_id == experiment_id]
        assert listed == [done["reason"]]

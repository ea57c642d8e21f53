"""Restarts of the real server process: kill -9 and a clean stop, seen over HTTP (what the
next start adopts: :mod:`tests.server.test_restarts`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support import make_spec

from .runner_support import alive, grandchildren, probe

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"


def result(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True, body
    return body["result"]


def follow(
    client: httpx.Client, experiment_id: str, done: Callable[[str, dict[str, list[str]]], bool]
) -> dict[str, list[str]]:
    """Follow the log stream (long polls) until ``done(status, lines by pod)``; the lines."""
    cursor = ""
    lines: dict[str, list[str]] = {}
    deadline = time.monotonic() + 30
    while True:
        chunk = result(
            client.get(f"{API}/{experiment_id}/log-stream", params={"cursor": cursor, "wait": 5})
        )
        cursor = chunk["cursor"]
        for pod in chunk["pods"]:
            lines.setdefault(pod["podName"], []).extend(pod["lines"])
        if done(chunk["status"], lines):
            return lines
        assert time.monotonic() < deadline, f"{experiment_id} is {chunk['status']}: {lines}"


def logged(text: str, pods: int) -> Callable[[str, dict[str, list[str]]], bool]:
    """Whether ``pods`` pods printed ``text``."""
    return lambda _, lines: sum(any(text in x for x in got) for got in lines.values()) >= pods


def finished(status: str, _: dict[str, list[str]]) -> bool:
    """Whether the experiment is over."""
    return status in {"Succeeded", "Failed"}


def pids_of(lines: list[str]) -> list[int]:
    probes = [json.loads(x[len("PROBE ") :])["pid"] for x in lines if x.startswith("PROBE ")]
    return probes + grandchildren(lines)


def start_stubborn_experiment(client: httpx.Client) -> tuple[str, list[int]]:
    spec = make_spec(
        "TensorFlow",
        {
            "Ps": {"cmd": probe("--dump", "--ignore-term", "--grandchild", "--sleep")},
            "Worker": {"replicas": 2, "cmd": probe("--dump", "--sleep")},
        },
    )
    experiment_id = result(client.post(API, json=spec))["experimentId"]
    lines = follow(client, experiment_id, logged("SLEEPING", pods=3))
    pids = pids_of([x for got in lines.values() for x in got])
    assert len(pids) == 4
    assert result(client.get(f"{API}/{experiment_id}"))["status"] == "Running"
    return experiment_id, pids


def pod_logs(client: httpx.Client, experiment_id: str) -> dict[str, list[str]]:
    log = result(client.get(f"{API}/logs/{experiment_id}"))
    return {pod["podName"]: pod["podLog"] for pod in log["logContent"]}


def test_kill_9_and_restart_adopts_the_running_experiment(server_factory: Any) -> None:
    server = server_factory.start("--grace-period", "0.3")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        experiment_id, pids = start_stubborn_experiment(client)
    server.kill()
    assert all(alive(pid) for pid in pids)  # replicas live on in their own sessions

    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        experiment = result(client.get(f"{API}/{experiment_id}"))
        assert experiment["status"] == "Running"
        assert experiment["finishedTime"] is None
        assert all(alive(pid) for pid in pids)
        # A new experiment runs on the restarted server, beside the adopted one.
        spec = make_spec("TensorFlow", {"Worker": {}}, cmd="true")
        new_id = result(client.post(API, json=spec))["experimentId"]
        assert new_id != experiment_id
        follow(client, new_id, finished)
        assert result(client.get(f"{API}/{new_id}"))["status"] == "Succeeded"
        # The adopted one is stopped as any other, stubborn replicas and grandchild too.
        assert result(client.delete(f"{API}/{experiment_id}"))["status"] == "Deleted"
        assert [pid for pid in pids if alive(pid)] == []


def test_a_clean_stop_leaves_the_run_and_stop_experiments_stops_it(
    server_factory: Any,
) -> None:
    server = server_factory.start("--grace-period", "0.3")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        experiment_id, pids = start_stubborn_experiment(client)
    server.stop()  # SIGTERM: a clean shutdown, which leaves the run running
    assert all(alive(pid) for pid in pids)

    server.restart("--grace-period", "0.3", "--stop-experiments")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert result(client.get(f"{API}/{experiment_id}"))["status"] == "Running"
    server.stop()  # this time the runs stop with the server
    assert [pid for pid in pids if alive(pid)] == []

    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        experiment = result(client.get(f"{API}/{experiment_id}"))
        assert (experiment["status"], experiment["reason"]) == ("Failed", "the server stopped")
        for lines in pod_logs(client, experiment_id).values():
            assert lines[-1] == "[submarine] stopped: the server stopped; the experiment failed"

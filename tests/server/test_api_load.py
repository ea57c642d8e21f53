"""Ids across restarts, durability across a kill -9, concurrent creates, and a run of short
experiments to the end. How fast creates and runs are is measured by ``make bench`` (rows 6
and 7: create to Succeeded against spawning ``true``, creates against pings), not here."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from tests.support import make_spec, unique_name

from .api_support import API, ID_RE, SLEEPER, create, ok, wait_status

CLIENTS = 8
CREATES = 200


def epoch(experiment_id: str) -> int:
    return int(experiment_id.split("-")[1])


def test_ids_stay_unique_across_restarts(server_factory: Any) -> None:
    server = server_factory.start()
    seen: list[str] = []
    payloads: dict[str, dict[str, Any]] = {}
    for _ in range(3):
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(2):
                experiment = create(client, make_spec())
                seen.append(experiment["experimentId"])
            for experiment_id in seen:
                payloads[experiment_id] = wait_status(client, experiment_id, {"Succeeded"})
        server.restart()
    assert len(set(seen)) == len(seen) == 6
    assert all(ID_RE.match(i) for i in seen)
    assert epoch(seen[0]) < epoch(seen[2]) < epoch(seen[4])
    assert [i.rsplit("-", 1)[1] for i in seen[:2]] == ["0001", "0002"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for experiment_id, payload in payloads.items():
            assert ok(client.get(f"{API}/{experiment_id}")) == payload


def test_what_was_answered_survives_a_kill_9(server_factory: Any) -> None:
    server = server_factory.start("--cpus", "1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        blocker = create(client, make_spec(cmd=SLEEPER, resources="cpu=1,memory=64M"))
        wait_status(client, blocker["experimentId"], {"Running"})
        queued = create(client, make_spec(resources="cpu=1,memory=64M"))
        patched_spec = make_spec(name=queued["spec"]["meta"]["name"], cmd="python -c pass")
        patched_spec["spec"]["Worker"]["resources"] = "cpu=1,memory=64M"
        ok(client.patch(f"{API}/{queued['experimentId']}", json=patched_spec))
        deleted = create(client, make_spec(resources="cpu=1,memory=64M"))
        ok(client.delete(f"{API}/{deleted['experimentId']}"))
    server.kill()
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        after = {e["experimentId"]: e for e in ok(client.get(API))}
        assert deleted["experimentId"] not in after
        assert after[queued["experimentId"]]["spec"]["meta"]["cmd"] == "python -c pass"
        assert after[queued["experimentId"]]["uid"] == queued["uid"]
        # the one left running is adopted, and still holds the cpu the queued one needs
        assert after[blocker["experimentId"]]["status"] == "Running"
        assert after[queued["experimentId"]]["reason"] == (
            "waiting in the queue: needs 1 cpus, 0 free"
        )
        ok(client.delete(f"{API}/{blocker['experimentId']}"))
        done = wait_status(client, queued["experimentId"], {"Succeeded", "Failed"})
        assert done["status"] == "Succeeded"


def test_200_creates_from_8_concurrent_clients(server_factory: Any) -> None:
    # One cpu, taken by a sleeper: the 200 stay queued, so this measures the API and store.
    server = server_factory.start("--cpus", "1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        blocker = create(client, make_spec(cmd=SLEEPER, resources="cpu=1,memory=64M"))
        wait_status(client, blocker["experimentId"], {"Running"})
    names = [unique_name(f"load{i}") for i in range(CREATES)]
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def worker(share: list[str]) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for name in share:
                spec = make_spec(name=name, resources="cpu=1,memory=64M")
                payload = ok(http.post(API, json=spec))
                with lock:
                    results.append(payload)

    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(worker, names[i::CLIENTS]) for i in range(CLIENTS)]:
            future.result()

    ids = [r["experimentId"] for r in results]
    assert len(set(ids)) == CREATES
    assert len({r["uid"] for r in results}) == CREATES
    assert {r["spec"]["meta"]["name"] for r in results} == set(names)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        stored = ok(client.get(API, params={"status": "accepted"}))
    assert {e["experimentId"] for e in stored} == set(ids)
    assert [e["experimentId"] for e in stored] == sorted(ids, key=lambda i: int(i[-4:]))


def test_one_replica_true_experiments_succeed_one_after_another(server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        for _ in range(10):
            experiment_id = create(client, make_spec(cmd="true"))["experimentId"]
            done = wait_status(client, experiment_id, {"Succeeded", "Failed"})
            assert done["status"] == "Succeeded"
            times = [
                datetime.strptime(done[key], "%Y-%m-%dT%H:%M:%S%z")
                for key in ("acceptedTime", "createdTime", "runningTime", "finishedTime")
            ]
            assert times == sorted(times), done


def test_concurrent_creates_of_one_name_all_succeed(server_url: str) -> None:
    """No uniqueness check on names (as on Submarine 0.8.0): each create gets its own id."""
    clients = CLIENTS
    name = unique_name("race")
    barrier = threading.Barrier(clients)

    def attempt(_: int) -> str:
        with httpx.Client(base_url=server_url, timeout=30) as http:
            barrier.wait()
            return str(ok(http.post(API, json=make_spec(name=name, cmd=SLEEPER)))["experimentId"])

    with ThreadPoolExecutor(clients) as pool:
        ids = list(pool.map(attempt, range(clients)))
    assert len(set(ids)) == clients
    with httpx.Client(base_url=server_url, timeout=30) as client:
        mine = [e for e in ok(client.get(API)) if e["spec"]["meta"]["name"] == name]
        assert {e["experimentId"] for e in mine} == set(ids)
        for experiment_id in ids:
            ok(client.delete(f"{API}/{experiment_id}"))

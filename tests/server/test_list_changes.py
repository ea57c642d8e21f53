"""The experiment list's entity tag over real HTTP (``If-None-Match`` gets ``304`` while no
experiment changed, a full answer once one did; a request without it, as 0.8.0's clients
send, is answered as before) and the resources route of the workbench's strip."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"


def _create(server: RunningServer, **fields: Any) -> str:
    answer = httpx.post(f"{server.url}{API}", json=make_spec(**fields)).json()
    assert answer["success"] is True, answer
    return str(answer["result"]["experimentId"])


def _status(server: RunningServer, experiment_id: str) -> str:
    return str(httpx.get(f"{server.url}{API}/{experiment_id}").json()["result"]["status"])


def test_an_unchanged_list_is_a_304_and_a_change_a_new_tag(server_factory: Any) -> None:
    server = server_factory.start()
    first = _create(server, resources="cpu=100m,memory=64M")
    wait_until(
        lambda: _status(server, first) == "Succeeded", what="the first experiment", timeout=120
    )

    plain = httpx.get(f"{server.url}{API}")
    assert plain.status_code == 200
    tag = plain.headers["etag"]
    assert tag.startswith('W/"experiments-')
    assert [e["experimentId"] for e in plain.json()["result"]] == [first]

    again = httpx.get(f"{server.url}{API}", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    # A strong spelling of the same tag, and a list of tags, match too.
    strong = tag.removeprefix("W/")
    listed = httpx.get(f"{server.url}{API}", headers={"If-None-Match": f'"other", {strong}'})
    assert listed.status_code == 304

    # A filtered list has a tag of its own.
    failed = httpx.get(f"{server.url}{API}?status=Failed", headers={"If-None-Match": tag})
    assert failed.status_code == 200
    assert failed.json()["result"] == []

    # Any change (a create, the status changes that follow, a patch, a delete) moves it.
    second = _create(server, resources="cpu=100m,memory=64M")
    changed = httpx.get(f"{server.url}{API}", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert {e["experimentId"] for e in changed.json()["result"]} == {first, second}
    assert changed.headers["etag"] != tag
    wait_until(
        lambda: _status(server, second) == "Succeeded", what="the second experiment", timeout=120
    )
    settled = httpx.get(f"{server.url}{API}").headers["etag"]
    assert httpx.get(f"{server.url}{API}", headers={"If-None-Match": settled}).status_code == 304
    assert httpx.delete(f"{server.url}{API}/{first}").json()["success"] is True
    gone = httpx.get(f"{server.url}{API}", headers={"If-None-Match": settled})
    assert gone.status_code == 200
    assert [e["experimentId"] for e in gone.json()["result"]] == [second]

    # ?since= answers only what changed after the version of a tag.
    version = settled.split("experiments-", 1)[1].rsplit("-", 1)[0]
    delta = httpx.get(f"{server.url}{API}", params={"since": version}).json()["result"]
    assert delta == {
        "version": gone.headers["etag"].split("experiments-", 1)[1].rsplit("-", 1)[0],
        "full": False,
        "changed": [],
        "removed": [first],
    }
    third = _create(server, resources="cpu=100m,memory=64M")
    # Settled first: each of its status changes is a change of the list.
    wait_until(lambda: _status(server, third) == "Succeeded", what="the third experiment")
    delta = httpx.get(f"{server.url}{API}", params={"since": version}).json()["result"]
    assert delta["removed"] == [first]
    assert [e["experimentId"] for e in delta["changed"]] == [third]
    assert delta["changed"][0]["spec"]["meta"]["experimentId"] == third
    unchanged = httpx.get(
        f"{server.url}{API}",
        params={"since": delta["version"]},
        headers={"If-None-Match": f'W/"experiments-{delta["version"]}-all"'},
    )
    assert unchanged.status_code == 304
    bad = httpx.get(f"{server.url}{API}", params={"since": "yesterday"})
    assert bad.status_code == 400
    assert "since 'yesterday' is not valid" in bad.json()["message"]
    both = httpx.get(f"{server.url}{API}", params={"since": version, "status": "Failed"})
    assert both.status_code == 400
    wait_until(
        lambda: _status(server, third) == "Succeeded", what="the third experiment", timeout=120
    )

    # A restart on the same data is a new tag (a page never keeps a list of another start).
    last = gone.headers["etag"]
    server.restart()
    after = httpx.get(f"{server.url}{API}", headers={"If-None-Match": last})
    assert after.status_code == 200
    # A version of another start: every experiment, marked full.
    old = httpx.get(f"{server.url}{API}", params={"since": version}).json()["result"]
    assert old["full"] is True
    assert {e["experimentId"] for e in old["changed"]} == {second, third}
    assert old["removed"] == []


def test_the_resources_route_says_capacity_use_and_queue(server_factory: Any) -> None:
    server: RunningServer = server_factory.start("--cpus", "2", "--memory", "4G", "--gpus", "0")
    gate = server.workdir / "gate"
    (server.workdir / "hold.py").write_text(
        "import os, sys, time\n"
        "end = time.monotonic() + 120\n"
        "while not os.path.exists(sys.argv[1]) and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"
    )
    idle = httpx.get(f"{server.url}/api/v1/resources").json()["result"]
    assert idle == {
        "capacity": {"cpus": 2.0, "memoryBytes": 4 << 30, "gpus": 0},
        "used": {"cpus": 0.0, "memoryBytes": 0, "gpus": 0},
        "running": 0,
        "queued": 0,
    }
    holder = _create(server, cmd=f"python hold.py {gate}", resources="cpu=1.5,memory=1G")
    waiting = _create(server, resources="cpu=1,memory=64M")
    try:
        wait_until(
            lambda: httpx.get(f"{server.url}/api/v1/resources").json()["result"]["running"] == 1,
            what="the holder to start",
            timeout=120,
        )
        busy = httpx.get(f"{server.url}/api/v1/resources").json()["result"]
        assert busy["used"] == {"cpus": 1.5, "memoryBytes": 1 << 30, "gpus": 0}
        assert busy["queued"] == 1
        assert _status(server, waiting) == "Accepted"
    finally:
        gate.write_text("go")
    wait_until(lambda: _status(server, holder) == "Succeeded", what="the holder", timeout=120)
    wait_until(lambda: _status(server, waiting) == "Succeeded", what="the waiting one", timeout=120)
    assert httpx.get(f"{server.url}/api/v1/resources").json()["result"]["queued"] == 0

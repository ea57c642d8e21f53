"""Every endpoint of the local server over real HTTP: payloads, envelope, filters, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine.server.api.experiments import LIST_BATCH
from submarine.server.api.rest import envelope
from submarine.server.api.wire import ADDED_FIELDS, EXPERIMENT_FIELDS, experiment_payload
from submarine.server.store.experiments import ExperimentRecord, Store
from tests.support import make_spec, unique_name

from .api_support import (
    API,
    ENVELOPE_KEYS,
    ID_RE,
    SLEEPER,
    TIME_RE,
    create,
    fail,
    in_process,
    ok,
    wait_status,
)

TERMINAL = {"Succeeded", "Failed", "Deleted"}


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as http:
        yield http


@pytest.fixture
def sleeper(client: httpx.Client) -> Iterator[dict[str, Any]]:
    """A running experiment that never ends on its own; deleted afterwards."""
    experiment = create(client, make_spec(name=unique_name("sleeper"), cmd=SLEEPER))
    yield experiment
    client.delete(f"{API}/{experiment['experimentId']}")


def test_ping_answers_pong_and_advertises_the_log_stream(client: httpx.Client) -> None:
    response = client.get(f"{API}/ping")
    assert response.json() == {
        "status": "OK",
        "code": 200,
        "success": True,
        "message": None,
        "result": "Pong",
        "attributes": {
            "extensions": ["log-stream", "tracking-page", "tracking-summary", "template-preview"]
        },
    }


def test_create_answers_the_accepted_experiment_as_stored(client: httpx.Client) -> None:
    name = unique_name("Mixed-Case")
    spec = make_spec(name=name, resources="cpu=0.5,memory=64M")
    spec["meta"]["namespace"] = "team-a"
    spec["spec"] = {"worker": {"resources": "cpu=0.5,memory=64M"}}  # any case, replicas default
    result = create(client, spec)
    experiment_id = result["experimentId"]
    assert ID_RE.match(experiment_id)
    assert str(uuid.UUID(result["uid"])) == result["uid"]
    assert result["status"] == "Accepted"
    # 0.8.0's fields in its order, then this server's additions (0.8.0's clients ignore them).
    assert list(result) == [*EXPERIMENT_FIELDS, *ADDED_FIELDS]
    assert TIME_RE.match(result["acceptedTime"])
    # As on Submarine 0.8.0: created at insert, so never null.
    assert result["createdTime"] == result["acceptedTime"]
    assert (result["runningTime"], result["finishedTime"]) == (None, None)
    # Every field of 0.8.0's classes is written, nulls included (Gson's serializeNulls).
    assert result["spec"] == {
        "meta": {
            "experimentId": experiment_id,
            "name": name.lower(),
            "namespace": "default",
            "framework": "TensorFlow",
            "cmd": "true",
            "envVars": {},
            "tags": [],
        },
        "environment": {
            "name": None,
            "dockerImage": None,
            "kernelSpec": None,
            "description": None,
            "image": "local",
        },
        "spec": {
            "Worker": {
                "replicas": 1,
                "resources": "cpu=0.5,memory=64M",
                "name": None,
                "image": None,
                "cmd": None,
                "envVars": None,
                "resourceMap": {"cpu": "0.5", "memory": "64M"},
            }
        },
        "experimentHandlerSpec": None,
        "code": None,
    }
    assert list(result["spec"]) == ["meta", "environment", "spec", "experimentHandlerSpec", "code"]
    assert ok(client.get(f"{API}/{experiment_id}"))["spec"] == result["spec"]


def test_every_field_of_a_full_spec_is_answered(client: httpx.Client) -> None:
    environment = unique_name("env").lower()  # an experiment may name a stored one only
    ok(client.post("/api/v1/environment", json={"name": environment}))
    spec = make_spec(name=unique_name("full"), cmd=SLEEPER)
    spec["environment"] = {
        "name": environment,
        "dockerImage": "ignored:1",
        "kernelSpec": {"name": "python3", "channels": ["defaults"]},
        "description": "d",
        "image": "local",
    }
    spec["meta"]["envVars"] = {"A": "1"}
    spec["meta"]["tags"] = ["t"]
    spec["spec"]["Worker"].update(name="w", image="local:2", envVars={"B": "2"})
    created = create(client, spec)
    try:
        answered = created["spec"]
        assert answered["environment"] == {
            "name": environment,
            "dockerImage": "ignored:1",
            "kernelSpec": {
                "name": "python3",
                "channels": ["defaults"],
                "condaDependencies": None,
                "pipDependencies": None,
            },
            "description": "d",
            "image": "local",
        }
        assert (answered["meta"]["envVars"], answered["meta"]["tags"]) == ({"A": "1"}, ["t"])
        worker = answered["spec"]["Worker"]
        assert (worker["name"], worker["image"], worker["envVars"]) == ("w", "local:2", {"B": "2"})
        assert worker["cmd"] is None
    finally:
        client.delete(f"{API}/{created['experimentId']}")
        client.delete(f"/api/v1/environment/{environment}")


def test_a_true_experiment_succeeds_with_its_times(client: httpx.Client) -> None:
    experiment_id = create(client, make_spec())["experimentId"]
    done = wait_status(client, experiment_id, TERMINAL)
    assert done["status"] == "Succeeded"
    times = [done[k] for k in ("acceptedTime", "createdTime", "runningTime", "finishedTime")]
    assert all(TIME_RE.match(t) for t in times), times


def test_get_list_and_status_filters(client: httpx.Client, sleeper: dict[str, Any]) -> None:
    finished = create(client, make_spec())
    wait_status(client, finished["experimentId"], {"Succeeded"})
    wait_status(client, sleeper["experimentId"], {"Running"})

    everything = [e["experimentId"] for e in ok(client.get(API))]
    assert {finished["experimentId"], sleeper["experimentId"]} <= set(everything)
    for spelling in ("Running", "running", "RUNNING"):
        running = ok(client.get(API, params={"status": spelling}))
        assert sleeper["experimentId"] in [e["experimentId"] for e in running]
        assert {e["status"] for e in running} == {"Running"}
    succeeded = ok(client.get(API, params={"status": "succeeded"}))
    assert finished["experimentId"] in [e["experimentId"] for e in succeeded]
    assert sleeper["experimentId"] not in [e["experimentId"] for e in succeeded]


@pytest.mark.parametrize("path", [API, f"{API}/logs"])
def test_an_unknown_status_name_lists_the_valid_ones(client: httpx.Client, path: str) -> None:
    message = fail(client.get(path, params={"status": "Sleeping"}), 400)
    assert "'Sleeping'" in message
    assert "Accepted, Created, Running, Succeeded, Failed, Deleted" in message


def test_patch_replaces_the_whole_spec(client: httpx.Client, sleeper: dict[str, Any]) -> None:
    experiment_id = sleeper["experimentId"]
    spec = make_spec(name=sleeper["spec"]["meta"]["name"], cmd=SLEEPER + " # v2")
    spec["meta"]["envVars"] = {"STEP": "2"}
    patched = ok(client.patch(f"{API}/{experiment_id}", json=spec))
    assert patched["experimentId"] == experiment_id
    assert patched["spec"]["meta"]["cmd"] == SLEEPER + " # v2"
    assert patched["spec"]["meta"]["envVars"] == {"STEP": "2"}
    assert patched["spec"]["meta"]["experimentId"] == experiment_id
    assert ok(client.get(f"{API}/{experiment_id}"))["spec"] == patched["spec"]


def test_patch_is_validated_like_create(client: httpx.Client, sleeper: dict[str, Any]) -> None:
    bad = make_spec(resources="cpu=1,mem=1G")
    message = fail(client.patch(f"{API}/{sleeper['experimentId']}", json=bad), 400)
    assert message.startswith("spec.Worker.resources: unknown resource 'mem'")
    assert ok(client.get(f"{API}/{sleeper['experimentId']}"))["spec"] == sleeper["spec"]


def test_live_experiments_may_share_a_name(client: httpx.Client, sleeper: dict[str, Any]) -> None:
    """Submarine 0.8.0 has no uniqueness check on names: experiments are told apart by id."""
    name = sleeper["spec"]["meta"]["name"]
    twin = create(client, make_spec(name=name.upper(), cmd=SLEEPER))
    other = create(client, make_spec(cmd=SLEEPER))
    try:
        assert twin["experimentId"] != sleeper["experimentId"]
        assert twin["spec"]["meta"]["name"] == name
        wait_status(client, twin["experimentId"], {"Running"})
        wait_status(client, sleeper["experimentId"], {"Running"})
        # A patch may take the name of another live experiment too.
        renamed = ok(
            client.patch(f"{API}/{other['experimentId']}", json=make_spec(name=name, cmd=SLEEPER))
        )
        assert renamed["spec"]["meta"]["name"] == name
        named = [e for e in ok(client.get(API)) if e["spec"]["meta"]["name"] == name]
        assert {e["experimentId"] for e in named} == {
            sleeper["experimentId"],
            twin["experimentId"],
            other["experimentId"],
        }
        pods = {
            p["podName"] for p in ok(client.get(f"{API}/logs/{twin['experimentId']}"))["logContent"]
        }
        assert pods == {f"{twin['experimentId']}-worker-0"}  # pods are named by id
    finally:
        client.delete(f"{API}/{twin['experimentId']}")
        client.delete(f"{API}/{other['experimentId']}")


def test_delete_stops_it_answers_deleted_and_forgets_it(client: httpx.Client) -> None:
    experiment = create(client, make_spec(cmd=SLEEPER))
    experiment_id = experiment["experimentId"]
    wait_status(client, experiment_id, {"Running"})
    deleted = ok(client.delete(f"{API}/{experiment_id}"))
    assert deleted["status"] == "Deleted"
    times = ("acceptedTime", "createdTime", "runningTime", "finishedTime")
    assert [deleted[k] for k in times] == [None] * 4  # as on Submarine 0.8.0
    assert deleted["spec"] == experiment["spec"]
    fail(client.get(f"{API}/{experiment_id}"), 404, "Not found experiment.")
    fail(client.get(f"{API}/logs/{experiment_id}"), 404, "Not found experiment.")
    fail(client.delete(f"{API}/{experiment_id}"), 404, "Not found experiment.")
    assert experiment_id not in [e["experimentId"] for e in ok(client.get(API))]


PRINT_LINES = "python -c \"print('first line'); print('second line')\""


def test_logs_of_one_experiment(client: httpx.Client) -> None:
    spec = make_spec("TensorFlow", {"Worker": 2}, cmd=PRINT_LINES)
    spec["spec"]["Ps"] = {"replicas": 1, "cmd": SLEEPER, "resources": "cpu=100m,memory=64M"}
    experiment_id = create(client, spec)["experimentId"]
    wait_status(client, experiment_id, {"Succeeded"})
    result = ok(client.get(f"{API}/logs/{experiment_id}"))
    assert result["experimentId"] == experiment_id
    pods = {p["podName"]: p["podLog"] for p in result["logContent"]}
    assert sorted(pods) == [
        f"{experiment_id}-ps-0",
        f"{experiment_id}-worker-0",
        f"{experiment_id}-worker-1",
    ]
    assert pods[f"{experiment_id}-worker-0"] == ["first line", "second line"]
    assert pods[f"{experiment_id}-worker-1"] == ["first line", "second line"]


def test_logs_of_every_experiment_filtered_by_status(client: httpx.Client) -> None:
    experiment_id = create(client, make_spec(cmd=PRINT_LINES))["experimentId"]
    wait_status(client, experiment_id, {"Succeeded"})
    every = ok(client.get(f"{API}/logs"))
    assert experiment_id in [e["experimentId"] for e in every]
    succeeded = ok(client.get(f"{API}/logs", params={"status": "SUCCEEDED"}))
    mine = [e for e in succeeded if e["experimentId"] == experiment_id]
    assert mine == [
        {
            "experimentId": experiment_id,
            "logContent": [
                {"podName": f"{experiment_id}-worker-0", "podLog": ["first line", "second line"]}
            ],
        }
    ]
    running = ok(client.get(f"{API}/logs", params={"status": "Running"}))
    assert experiment_id not in [e["experimentId"] for e in running]


def test_log_stream_follows_output_with_a_cursor(client: httpx.Client) -> None:
    experiment_id = create(client, make_spec(cmd=PRINT_LINES))["experimentId"]
    lines: list[str] = []
    cursor: str | None = None
    status = ""
    for _ in range(200):
        params: dict[str, Any] = {"wait": 5}
        if cursor is not None:
            params["cursor"] = cursor
        result = ok(client.get(f"{API}/{experiment_id}/log-stream", params=params))
        assert set(result) == {"experimentId", "status", "pods", "cursor", "more"}
        assert result["experimentId"] == experiment_id
        for pod in result["pods"]:
            assert pod["podName"] == f"{experiment_id}-worker-0"
            lines += pod["lines"]
        cursor, status = result["cursor"], result["status"]
        if status in TERMINAL and not result["more"]:
            break
    assert status == "Succeeded"
    assert lines == ["first line", "second line"]
    again = ok(client.get(f"{API}/{experiment_id}/log-stream", params={"cursor": cursor}))
    assert [line for pod in again["pods"] for line in pod["lines"]] == []


def test_log_stream_limit_cuts_the_answer_short(client: httpx.Client) -> None:
    experiment_id = create(client, make_spec(cmd=PRINT_LINES))["experimentId"]
    wait_status(client, experiment_id, {"Succeeded"})
    path = f"{API}/{experiment_id}/log-stream"
    first = ok(client.get(path, params={"limit": len("first line\n")}))
    assert first["more"] is True
    assert [line for pod in first["pods"] for line in pod["lines"]] == ["first line"]
    rest = ok(client.get(path, params={"cursor": first["cursor"]}))
    assert rest["more"] is False
    assert [line for pod in rest["pods"] for line in pod["lines"]] == ["second line"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"wait": "soon"}, "wait='soon'"),
        ({"wait": "-1"}, "wait='-1'"),
        ({"limit": "0"}, "limit='0'"),
        ({"limit": "1.5"}, "limit='1.5'"),
        ({"cursor": "not a cursor"}, "cursor 'not a cursor'"),
    ],
)
def test_log_stream_refuses_bad_parameters(
    client: httpx.Client, params: dict[str, str], needle: str
) -> None:
    experiment_id = create(client, make_spec())["experimentId"]
    message = fail(client.get(f"{API}/{experiment_id}/log-stream", params=params), 400)
    assert needle in message


def test_envelope_keeps_nulls_in_order(client: httpx.Client) -> None:
    raw = client.get(f"{API}/ping").text
    assert list(json.loads(raw)) == ENVELOPE_KEYS
    missing = client.get(f"{API}/experiment-1-1").text
    assert '"result":null' in missing


def test_git_credentials_are_kept_but_never_shown(server_factory: Any) -> None:
    server = server_factory.start()
    secret_url = "https://ada:url-secret@127.0.0.1:9/repo.git"
    spec = make_spec(cmd=SLEEPER)
    spec["code"] = {
        "syncMode": "git",
        "git": {"url": secret_url, "username": "ada", "password": "field-secret"},
    }
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = create(http, spec)
        experiment_id = created["experimentId"]
        shown = [created, ok(http.get(f"{API}/{experiment_id}")), *ok(http.get(API))]
        for payload in shown:
            assert payload["spec"]["code"] == {
                "syncMode": "git",
                "git": {
                    "url": "https://127.0.0.1:9/repo.git",
                    "branch": "main",
                    "username": "ada",
                    "password": None,
                    "trustCerts": None,
                },
            }
        # A client that patches back what it was shown keeps the stored credentials.
        again = created["spec"]
        again["meta"]["envVars"] = {"PATCHED": "1"}
        patched = ok(http.patch(f"{API}/{experiment_id}", json=again))
        assert patched["spec"]["code"]["git"]["password"] is None
        everything = http.get(f"{API}/logs").text + http.get(API).text
        assert "secret" not in everything
    with sqlite3.connect(str(server.data_dir / "submarine.db")) as db:
        (stored,) = db.execute(
            "SELECT spec FROM experiments WHERE experiment_id = ?", (experiment_id,)
        ).fetchone()
    git = json.loads(stored)["code"]["git"]
    assert (git["url"], git["password"]) == (secret_url, "field-secret")
    assert json.loads(stored)["meta"]["envVars"] == {"PATCHED": "1"}


# -- big lists: spliced, streamed, scrubbed, off the event loop ----------------------------

SECRET_URL = "https://ada:url-secret@127.0.0.1:9/repo.git"


def _fill(store: Store, count: int) -> list[str]:
    """``count`` finished experiments; every 100th has git credentials, in three spellings."""
    from datetime import datetime, timedelta, timezone

    start = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2)))
    ids = []
    for index in range(count):
        experiment_id = store.next_experiment_id()
        name = f"big-{index}"
        spec: dict[str, Any] = {
            "meta": {"name": name, "experimentId": experiment_id, "cmd": "echo ünï ☃"},
            "environment": {"image": "local"},
            "spec": {"Worker": {"replicas": 1, "resourceMap": {"cpu": "1"}}},
        }
        if index % 100 == 7:
            spec["code"] = {
                "syncMode": "git",
                "git": {"url": SECRET_URL, "username": "ada", "password": "field-secret"},
            }
        at = start + timedelta(seconds=index)
        store.insert(ExperimentRecord(experiment_id, str(uuid.uuid4()), name, "Running", spec, at))
        store.set_status(experiment_id, "Succeeded" if index % 3 else "Failed", at=at)
        ids.append(experiment_id)
    return ids


def _escape_git_keys(database: Any) -> int:
    """Spell ``"git"`` (key and value) with a JSON escape in some stored specs: the same JSON
    in other text, which must be scrubbed all the same."""
    with sqlite3.connect(str(database)) as db:
        changed = db.execute(
            "UPDATE experiments SET spec = replace(spec, '\"git\"', '\"g\\u0069t\"') "
            "WHERE spec LIKE '%\"git\"%' AND seq % 2 = 0"
        ).rowcount
    db.close()
    return changed


def _old_answer(store: Store, status: str | None = None) -> bytes:
    """The list answer as the server wrote it before streaming: records, then one dumps."""
    return bytes(envelope(result=[experiment_payload(r) for r in store.list(status)]).body)


def test_a_big_list_is_streamed_as_the_same_bytes_without_credentials(
    server_factory: Any,
) -> None:
    server = server_factory.start()
    store = Store(server.data_dir / "submarine.db")
    try:
        _fill(store, 3 * LIST_BATCH + 17)
        assert _escape_git_keys(server.data_dir / "submarine.db") > 0
        with httpx.Client(base_url=server.url, timeout=60) as http:
            with http.stream("GET", API) as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "application/json"
                assert response.headers.get("transfer-encoding") == "chunked"
                assert "content-length" not in response.headers
                body = response.read()
            assert body == _old_answer(store)
            assert b"secret" not in body
            assert b"secret" in server.data_dir.joinpath("submarine.db").read_bytes() + (
                server.data_dir.joinpath("submarine.db-wal").read_bytes()
            )
            failed = http.get(API, params={"status": "failed"})
            assert failed.content == _old_answer(store, "Failed")
            assert len(ok(failed)) == (3 * LIST_BATCH + 17 + 2) // 3
            small = http.get(API, params={"status": "Running"})
            assert small.headers["content-length"] == str(len(small.content))
            assert small.content == _old_answer(store, "Running")
    finally:
        store.close()


def test_list_answers_of_every_size_match_the_records(tmp_path: Any) -> None:
    from submarine.server.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", workdir=tmp_path)
    store = Store(settings.database)
    try:
        ids = _fill(store, LIST_BATCH + 1)
        for count in (LIST_BATCH + 1, LIST_BATCH, LIST_BATCH - 1, 1, 0):
            for experiment_id in ids[count:]:
                store.delete(experiment_id)
            ids = ids[:count]
            expected = _old_answer(store)
            got = asyncio.run(_get_in_process(settings, API))
            assert got.content == expected, count
            assert [e["experimentId"] for e in ok(got)] == ids
            streamed = "content-length" not in got.headers
            assert streamed == (count > LIST_BATCH), count
    finally:
        store.close()


async def _get_in_process(settings: Any, path: str) -> httpx.Response:
    async with in_process(settings) as client:
        return await client.get(path)


def test_a_list_is_written_off_the_event_loop_thread(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from submarine.server.api import wire
    from submarine.server.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", workdir=tmp_path)
    store = Store(settings.database)
    try:
        _fill(store, LIST_BATCH + 3)
    finally:
        store.close()
    writers: set[int] = set()
    original = wire.experiment_payload

    def spy(
        record: ExperimentRecord, *, deleted: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        writers.add(threading.get_ident())
        return original(record, deleted=deleted, reason=reason)

    monkeypatch.setattr(wire, "experiment_payload", spy)
    response = asyncio.run(_get_in_process(settings, API))
    assert len(ok(response)) == LIST_BATCH + 3
    assert writers
    assert threading.get_ident() not in writers  # the event loop ran in this thread


@pytest.mark.parametrize("which", ["one", "every"])
def test_whole_logs_are_read_off_the_event_loop_thread(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    # A whole log can be hundreds of MB: reading and encoding it must not stall the loop.
    from submarine.server.api import logs as loganswer
    from submarine.server.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", workdir=tmp_path)
    store = Store(settings.database)
    try:
        (experiment_id,) = _fill(store, 1)
    finally:
        store.close()
    readers: set[int] = set()
    original = loganswer._lines

    def spy(path: Path) -> Iterator[tuple[bool, str]]:
        readers.add(threading.get_ident())
        return original(path)

    monkeypatch.setattr(loganswer, "_lines", spy)
    path = f"{API}/logs/{experiment_id}" if which == "one" else f"{API}/logs"
    response = asyncio.run(_get_in_process(settings, path))
    result = ok(response)
    logs = [result] if which == "one" else result
    assert [log["experimentId"] for log in logs] == [experiment_id]
    assert readers
    assert threading.get_ident() not in readers  # the event loop ran in this thread


def test_a_failing_list_is_a_logged_500_envelope(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from submarine.server.settings import Settings

    def broken(self: Store, status: str | None = None, *, batch: int = 0) -> Iterator[Any]:
        raise RuntimeError("disk on fire")
        yield []  # a generator: it fails on its first batch, in the worker thread

    monkeypatch.setattr(Store, "scan", broken)
    settings = Settings(data_dir=tmp_path / "data", workdir=tmp_path)
    with caplog.at_level(logging.ERROR, logger="submarine.server"):
        response = asyncio.run(_get_in_process(settings, API))
    message = fail(response, 500)
    assert "RuntimeError" in message
    assert "disk on fire" not in message
    assert any("disk on fire" in (r.exc_text or "") for r in caplog.records)

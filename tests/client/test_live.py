"""Every method of both clients against the real local server, over real HTTP."""

from __future__ import annotations

import io
import threading
import time

import pytest

from submarine.client import (
    AsyncExperimentClient,
    AuthenticationError,
    ExperimentClient,
    ExperimentFailedError,
    NotFoundError,
    SpecValidationError,
    WaitTimeoutError,
)
from submarine.models import Experiment, ExperimentLog, ExperimentSpec, ExperimentStatus
from tests.support import BLOCKING_CMD as BLOCKING
from tests.support import make_spec, wait_until

HELLO = "python -c \"print('hello'); print('world')\""
FAILING = "python -c \"import sys; print('about to fail'); sys.exit(3)\""


@pytest.fixture
def client(server_url: str):
    with ExperimentClient(server_url, timeout=30) as made:
        yield made


# -- the sync client ------------------------------------------------------------------------


def test_ping_and_the_log_stream_extension(client):
    assert client.ping() is True
    assert "log-stream" in client._core.extensions


def test_create_get_list_and_delete(client):
    created = client.create_experiment(make_spec(cmd=HELLO))
    assert isinstance(created, Experiment)
    assert created.status is ExperimentStatus.ACCEPTED
    exp_id = created.experiment_id
    assert exp_id.startswith("experiment-")
    assert created.spec is not None
    assert created.spec.meta.experiment_id == exp_id

    fetched = client.get_experiment(exp_id)
    assert fetched.experiment_id == exp_id
    assert exp_id in {e.experiment_id for e in client.list_experiments()}

    client.wait_for_finish(exp_id, polling_interval=5, timeout=60, stream=io.StringIO())
    succeeded = client.list_experiments("succeeded")
    assert exp_id in {e.experiment_id for e in succeeded}
    assert all(e.status is ExperimentStatus.SUCCEEDED for e in succeeded)
    assert exp_id not in {e.experiment_id for e in client.list_experiments("Running")}

    deleted = client.delete_experiment(exp_id)
    assert deleted.status is ExperimentStatus.DELETED
    with pytest.raises(NotFoundError, match="Not found experiment"):
        client.get_experiment(exp_id)


def test_create_accepts_a_spec_model(client):
    model = ExperimentSpec.model_validate(make_spec())
    created = client.create_experiment(model)
    assert created.spec is not None
    assert created.spec.meta.name == model.meta.name.lower()
    client.delete_experiment(created.experiment_id)


def test_wait_for_finish_prints_and_returns_the_logs(client):
    exp_id = client.create_experiment(make_spec(cmd=HELLO)).experiment_id
    out = io.StringIO()
    started = time.monotonic()
    log = client.wait_for_finish(exp_id, polling_interval=600, stream=out)
    # The long poll answers when the experiment ends, not after its 600 s: a margin no
    # machine is slow enough to use up.
    assert time.monotonic() - started < 300
    assert isinstance(log, ExperimentLog)
    pod = f"{exp_id}-worker-0"
    assert {p.pod_name: p.lines for p in log.pods} == {pod: ["hello", "world"]}
    assert out.getvalue() == f"The logs of Pod {pod}:\nhello\nworld\n"
    assert client.get_experiment(exp_id).status is ExperimentStatus.SUCCEEDED


def test_get_log_and_list_log(client):
    exp_id = client.create_experiment(
        make_spec(roles={"Ps": 1, "Worker": 2}, cmd=HELLO)
    ).experiment_id
    client.wait_for_finish(exp_id, polling_interval=5, timeout=60, stream=io.StringIO())
    out = io.StringIO()
    log = client.get_log(exp_id, stream=out)
    names = sorted(p.pod_name for p in log.pods)
    assert names == [f"{exp_id}-ps-0", f"{exp_id}-worker-0", f"{exp_id}-worker-1"]
    assert out.getvalue().count("The logs of Pod ") == 3
    # TensorFlow succeeds when the workers do (the ps may be stopped before it prints).
    for worker in (f"{exp_id}-worker-0", f"{exp_id}-worker-1"):
        assert f"The logs of Pod {worker}:\nhello\nworld\n" in out.getvalue()

    master = client.get_log(exp_id, onlyMaster=True, stream=io.StringIO())
    assert [p.pod_name for p in master.pods] == [f"{exp_id}-ps-0"]

    logs = client.list_log("Succeeded")
    ours = [entry for entry in logs if entry.experiment_id == exp_id]
    assert len(ours) == 1
    assert len(ours[0].pods) == 3


def test_stream_logs_follow_and_not(client):
    exp_id = client.create_experiment(make_spec(cmd=HELLO)).experiment_id
    pod = f"{exp_id}-worker-0"
    assert list(client.stream_logs(exp_id)) == [(pod, "hello"), (pod, "world")]
    assert list(client.stream_logs(exp_id, follow=False)) == [(pod, "hello"), (pod, "world")]


def test_stream_logs_ends_when_the_experiment_is_deleted(client):
    exp_id = client.create_experiment(make_spec(cmd=BLOCKING)).experiment_id
    lines = client.stream_logs(exp_id, polling_interval=5)
    assert next(lines) == (f"{exp_id}-worker-0", "started")
    client.delete_experiment(exp_id)
    assert list(lines) == []


def test_wait_for_finish_times_out_then_returns_when_deleted(client):
    exp_id = client.create_experiment(make_spec(cmd=BLOCKING)).experiment_id
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        client.wait_for_finish(exp_id, polling_interval=5, timeout=1.5, stream=io.StringIO())
    assert time.monotonic() - started >= 1.5  # never before its time; late is fine
    assert caught.value.status in {"Accepted", "Created", "Running"}

    wait_until(
        lambda: client.get_experiment(exp_id).status is ExperimentStatus.RUNNING, what="Running"
    )
    deleter = threading.Thread(target=client.delete_experiment, args=(exp_id,))
    out = io.StringIO()

    def delete_once_started() -> None:
        wait_until(lambda: "started" in out.getvalue(), what="the first line")
        deleter.start()

    watcher = threading.Thread(target=delete_once_started)
    watcher.start()
    log = client.wait_for_finish(exp_id, polling_interval=5, timeout=60, stream=out)
    watcher.join(30)
    deleter.join(30)
    assert [line for pod in log.pods for line in pod.lines] == ["started"]
    assert "late" not in out.getvalue()


def test_a_failed_experiment_is_returned_or_raised(client):
    exp_id = client.create_experiment(make_spec(cmd=FAILING)).experiment_id
    log = client.wait_for_finish(exp_id, polling_interval=5, timeout=60, stream=io.StringIO())
    assert log.pods[0].lines[0] == "about to fail"
    assert client.get_experiment(exp_id).status is ExperimentStatus.FAILED
    with pytest.raises(ExperimentFailedError, match="about to fail"):
        client.wait_for_finish(exp_id, timeout=60, raise_on_failure=True, stream=io.StringIO())


def test_patch_replaces_the_spec(client):
    original = make_spec(cmd=BLOCKING)
    exp_id = client.create_experiment(original).experiment_id
    changed = {**original, "meta": {**original["meta"], "tags": ["patched"]}}
    patched = client.patch_experiment(exp_id, changed)
    assert patched.experiment_id == exp_id
    assert patched.spec is not None
    assert patched.spec.meta.tags == ["patched"]
    assert client.get_experiment(exp_id).spec.meta.tags == ["patched"]
    client.delete_experiment(exp_id)


def test_server_refusals_map_to_the_tree(client):
    # (A 409 is mapped by the MockTransport tests: Submarine 0.8.0 has no name check, so a
    # faithful local server never answers one to a create.)
    exp_id = client.create_experiment(make_spec(cmd=BLOCKING)).experiment_id
    with pytest.raises(NotFoundError):
        client.get_log("experiment-0000000000000-9999", stream=io.StringIO())
    with pytest.raises(NotFoundError):
        client.delete_experiment("experiment-0000000000000-9999")
    with pytest.raises(NotFoundError):
        client.patch_experiment("experiment-0000000000000-9999", make_spec())
    client.delete_experiment(exp_id)


def test_an_invalid_spec_never_reaches_the_server(client):
    before = len(client.list_experiments())
    bad = make_spec()
    bad["spec"] = {"Worker": {"replicas": 1, "resources": "cpu=1,memory=1.5G"}}
    with pytest.raises(SpecValidationError, match=r"spec\.Worker\.resources"):
        client.create_experiment(bad)
    assert len(client.list_experiments()) == before


# -- authentication ----------------------------------------------------------------------------


def test_token_auth(server_factory):
    server = server_factory.start("--token", "T0k3n-of-the-live-test")
    with ExperimentClient(server.url, token="T0k3n-of-the-live-test") as client:
        assert client.list_experiments() == []
    with ExperimentClient(server.url, token="wrong") as client:
        assert client.ping() is True
        with pytest.raises(AuthenticationError) as caught:
            client.list_experiments()
        assert caught.value.status_code == 401
    with ExperimentClient(server.url) as client, pytest.raises(AuthenticationError):
        client.get_experiment("experiment-0000000000000-0001")


def test_username_and_password_auth(server_factory, monkeypatch):
    server = server_factory.start("--username", "ada", "--password", "pw")
    with ExperimentClient(server.url, username="ada", password="pw") as client:
        exp_id = client.create_experiment(make_spec(cmd=HELLO)).experiment_id
        log = client.wait_for_finish(exp_id, polling_interval=5, timeout=60, stream=io.StringIO())
        assert log.pods[0].lines == ["hello", "world"]
    monkeypatch.setenv("SUBMARINE_USERNAME", "ada")
    monkeypatch.setenv("SUBMARINE_PASSWORD", "wrong")
    with (
        ExperimentClient(server.url) as client,
        pytest.raises(AuthenticationError, match="refused username 'ada'"),
    ):
        client.list_experiments()


# -- the async client ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_every_method(server_url):
    async with AsyncExperimentClient(server_url, timeout=30) as client:
        assert await client.ping() is True
        created = await client.create_experiment(
            make_spec(roles={"Chief": 1, "Worker": 1}, cmd=HELLO)
        )
        exp_id = created.experiment_id
        assert created.status is ExperimentStatus.ACCEPTED
        assert (await client.get_experiment(exp_id)).experiment_id == exp_id
        assert exp_id in {e.experiment_id for e in await client.list_experiments()}

        out = io.StringIO()
        log = await client.wait_for_finish(exp_id, polling_interval=5, timeout=60, stream=out)
        assert sorted(p.pod_name for p in log.pods) == [f"{exp_id}-chief-0", f"{exp_id}-worker-0"]
        # With a Chief, TensorFlow succeeds when the chief does (the worker may be stopped).
        chief = f"{exp_id}-chief-0"
        assert f"The logs of Pod {chief}:\nhello\nworld\n" in out.getvalue()

        streamed = [item async for item in client.stream_logs(exp_id, follow=False)]
        assert [line for pod, line in streamed if pod == chief] == ["hello", "world"]
        # The worker may be stopped at any point once the chief is done; what the final log
        # has of it, the stream has too, in order.
        others = [line for pod in log.pods if pod.pod_name != chief for line in pod.lines]
        assert [line for pod, line in streamed if pod != chief][: len(others)] == others
        master = await client.get_log(exp_id, onlyMaster=True, stream=io.StringIO())
        assert [p.pod_name for p in master.pods] == [f"{exp_id}-chief-0"]
        logs = await client.list_log("succeeded")
        assert exp_id in {entry.experiment_id for entry in logs}
        succeeded = await client.list_experiments(ExperimentStatus.SUCCEEDED)
        assert exp_id in {e.experiment_id for e in succeeded}

        patched_spec = make_spec()
        patched = await client.patch_experiment(exp_id, patched_spec)
        assert patched.spec is not None
        assert patched.spec.meta.cmd == "true"
        deleted = await client.delete_experiment(exp_id)
        assert deleted.status is ExperimentStatus.DELETED
        with pytest.raises(NotFoundError):
            await client.get_experiment(exp_id)


@pytest.mark.anyio
async def test_async_stream_follows_until_deleted_and_wait_times_out(server_url):
    async with AsyncExperimentClient(server_url, timeout=30) as client:
        exp_id = (await client.create_experiment(make_spec(cmd=BLOCKING))).experiment_id
        with pytest.raises(WaitTimeoutError):
            await client.wait_for_finish(exp_id, 5, timeout=1, stream=io.StringIO())
        seen = []
        async for pod, line in client.stream_logs(exp_id, polling_interval=5):
            seen.append((pod, line))
            await client.delete_experiment(exp_id)
        assert seen == [(f"{exp_id}-worker-0", "started")]


@pytest.mark.anyio
async def test_async_failed_experiment_and_auth(server_factory):
    server = server_factory.start("--username", "ada", "--password", "pw")
    async with AsyncExperimentClient(server.url, username="ada", password="pw") as client:
        exp_id = (await client.create_experiment(make_spec(cmd=FAILING))).experiment_id
        with pytest.raises(ExperimentFailedError):
            await client.wait_for_finish(exp_id, 5, 60, raise_on_failure=True, stream=io.StringIO())
    async with AsyncExperimentClient(server.url, token="nope") as client:
        with pytest.raises(AuthenticationError):
            await client.list_experiments()

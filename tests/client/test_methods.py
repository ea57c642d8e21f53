"""Each method's request and its treatment of the answer (MockTransport)."""

from __future__ import annotations

import io
import json

import httpx
import pytest

from submarine.client import SpecValidationError, SubmarineError
from submarine.models import ExperimentLog, ExperimentSpec, ExperimentStatus
from tests.client.conftest import Script, experiment, ok, pod_log

EXP_ID = "experiment-1647192232698-0001"
SPEC = {
    "meta": {"name": "mnist", "framework": "tensorflow", "cmd": "python train.py"},
    "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    "spec": {"worker": {"replicas": 2, "resources": "cpu=1,memory=1024M"}},
}


def test_create_sends_the_validated_spec_as_json(make):
    script = Script(lambda request: ok(experiment(EXP_ID, "Accepted")))
    exp = make(script).create_experiment(SPEC)
    assert exp.status is ExperimentStatus.ACCEPTED
    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/experiment")
    assert request.headers["Content-Type"] == "application/json"
    sent = json.loads(request.content)
    assert sent == ExperimentSpec.model_validate(SPEC).to_dict()
    assert sent["meta"]["framework"] == "TensorFlow"
    assert list(sent["spec"]) == ["Worker"]


def test_create_accepts_a_spec_model(make):
    script = Script(lambda request: ok(experiment(EXP_ID, "Accepted")))
    spec = ExperimentSpec.model_validate(SPEC)
    make(script).create_experiment(spec)
    assert json.loads(script.requests[0].content) == spec.to_dict()


@pytest.mark.parametrize("method", ["create", "patch"])
def test_an_invalid_spec_lists_every_problem_and_sends_nothing(make, method):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    client = make(script)
    bad = {
        "meta": {"name": "mnist", "framework": "TensorFlow", "cmd": "python train.py"},
        "environment": {"image": "busybox"},
        "spec": {"Worker": {"replicas": 0, "resources": "cpu=1,memory=1.5G"}, "Driver": {}},
    }
    send = (
        (lambda: client.create_experiment(bad))
        if method == "create"
        else (lambda: client.patch_experiment(EXP_ID, bad))
    )
    with pytest.raises(SpecValidationError) as caught:
        send()
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, SubmarineError)
    paths = {problem.path for problem in error.problems}
    assert {"spec.Worker.replicas", "spec.Worker.resources", "spec.Driver"} <= paths
    lines = str(error).splitlines()
    assert lines[0].startswith(f"invalid experiment spec ({len(error.problems)} problems)")
    assert len(lines) == 1 + len(error.problems)
    assert any(line.strip().startswith("spec.Worker.resources: ") for line in lines)
    assert script.requests == []


def test_a_spec_of_the_wrong_type_is_a_type_error(make):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    with pytest.raises(TypeError, match="a spec read from a server or a dict, got str"):
        make(script).create_experiment("meta: {}")
    assert script.requests == []


def test_patch_get_delete_use_the_experiment_path(make):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    client = make(script)
    client.patch_experiment(EXP_ID, SPEC)
    client.get_experiment(EXP_ID)
    client.delete_experiment(EXP_ID)
    assert script.paths() == [
        f"PATCH /api/v1/experiment/{EXP_ID}",
        f"GET /api/v1/experiment/{EXP_ID}",
        f"DELETE /api/v1/experiment/{EXP_ID}",
    ]
    assert json.loads(script.requests[0].content)["spec"]["Worker"]["replicas"] == 2


def test_an_id_is_quoted_into_one_path_segment(make):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    make(script).get_experiment("a/b c")
    assert script.requests[0].url.raw_path == b"/api/v1/experiment/a%2Fb%20c"


@pytest.mark.parametrize("bad_id", ["", "  ", None, 42])
def test_an_empty_id_is_refused_before_sending(make, bad_id):
    script = Script(lambda request: ok(experiment(EXP_ID)))
    with pytest.raises(ValueError, match="experiment id must be a non-empty string"):
        make(script).get_experiment(bad_id)
    assert script.requests == []


def test_list_experiments_without_status(make):
    script = Script(lambda request: ok([experiment("a"), experiment("b", "Succeeded")]))
    found = make(script).list_experiments()
    assert [e.experiment_id for e in found] == ["a", "b"]
    assert script.paths() == ["GET /api/v1/experiment"]


def test_list_experiments_filters_when_the_server_ignores_status(make):
    everything = [experiment("a", "Running"), experiment("b", "Succeeded"), experiment("c")]
    script = Script(lambda request: ok(everything))
    found = make(script).list_experiments("running")
    assert [e.experiment_id for e in found] == ["a", "c"]
    assert script.paths() == ["GET /api/v1/experiment?status=Running"]


def test_list_experiments_filter_is_case_insensitive_on_the_servers_side_too(make):
    script = Script(lambda request: ok([experiment("a", "RUNNING"), experiment("b", "failed")]))
    found = make(script).list_experiments(ExperimentStatus.FAILED)
    assert [e.experiment_id for e in found] == ["b"]


def test_an_unknown_status_lists_the_valid_ones_and_sends_nothing(make):
    script = Script(lambda request: ok([]))
    client = make(script)
    with pytest.raises(ValueError, match="Accepted, Created, Running, Succeeded, Failed, Deleted"):
        client.list_experiments("Finished")
    with pytest.raises(ValueError, match="unknown experiment status 'Done'"):
        client.list_log("Done")
    assert script.requests == []


def test_list_log_sends_the_status(make):
    payload = [pod_log("a", {"a-worker-0": []})]
    script = Script(lambda request: ok(payload))
    logs = make(script).list_log("succeeded")
    assert script.paths() == ["GET /api/v1/experiment/logs?status=Succeeded"]
    assert isinstance(logs[0], ExperimentLog)
    assert logs[0].pods[0].pod_name == "a-worker-0"


def test_get_log_prints_every_pod_to_the_given_stream(make, capsys):
    payload = pod_log(EXP_ID, {f"{EXP_ID}-ps-0": ["p1"], f"{EXP_ID}-worker-0": ["w1", "w2"]})
    script = Script(lambda request: ok(payload))
    out = io.StringIO()
    log = make(script).get_log(EXP_ID, stream=out)
    assert out.getvalue() == (
        f"The logs of Pod {EXP_ID}-ps-0:\np1\nThe logs of Pod {EXP_ID}-worker-0:\nw1\nw2\n"
    )
    assert capsys.readouterr().out == ""
    assert log.to_dict() == payload
    assert script.paths() == [f"GET /api/v1/experiment/logs/{EXP_ID}"]


def test_get_log_prints_to_stdout_at_call_time(make, capsys):
    script = Script(lambda request: ok(pod_log(EXP_ID, {"x-worker-0": ["hello"]})))
    make(script).get_log(EXP_ID)
    assert capsys.readouterr().out == "The logs of Pod x-worker-0:\nhello\n"


@pytest.mark.parametrize(
    ("pods", "kept"),
    [
        (["e-worker-0", "e-worker-1", "e-ps-0"], "e-ps-0"),
        (["e-worker-0", "e-ps-1", "e-ps-0", "e-chief-0"], "e-chief-0"),
        (["e-worker-0", "e-master-0"], "e-master-0"),
        (["e-evaluator-0", "e-chief-0", "e-master-0", "e-ps-0"], "e-master-0"),
        (["e-worker-1", "e-worker-0"], "e-worker-0"),
        (["tf-mnist-json-2-ps-0", "tf-mnist-json-2-worker-0"], "tf-mnist-json-2-ps-0"),
        (["e-evaluator-0", "e-worker-3"], "e-evaluator-0"),
        (["e-Master-0", "e-Worker-0"], "e-Master-0"),
    ],
)
def test_only_master_keeps_the_master_roles_pod(make, pods, kept):
    payload = pod_log("e", {name: [f"line of {name}"] for name in pods})
    script = Script(lambda request: ok(payload))
    out = io.StringIO()
    log = make(script).get_log("e", onlyMaster=True, stream=out)
    assert [pod.pod_name for pod in log.pods] == [kept]
    assert log.to_dict()["logContent"] == [{"podName": kept, "podLog": [f"line of {kept}"]}]
    assert out.getvalue() == f"The logs of Pod {kept}:\nline of {kept}\n"


def test_ping_true_and_the_extensions_are_remembered(make):
    script = Script(lambda request: ok("Pong", attributes={"extensions": ["log-stream"]}))
    client = make(script)
    assert client.ping() is True
    assert client.client._core.extensions == frozenset({"log-stream"})
    assert script.paths() == ["GET /api/v1/experiment/ping"]


def test_ping_raises_what_is_not_a_server_being_down(make):
    script = Script(lambda request: httpx.Response(401, content=b"<html>no</html>"))
    with pytest.raises(SubmarineError, match="HTTP 401"):
        make(script).ping()


def test_context_manager_closes_the_pool():
    from submarine.client import AsyncExperimentClient, ExperimentClient

    script = Script(lambda request: ok("Pong"))
    with ExperimentClient(transport=httpx.MockTransport(script)) as client:
        assert client.ping() is True
    assert client._http.is_closed

    async def use() -> bool:
        async with AsyncExperimentClient(transport=httpx.MockTransport(script)) as aio:
            assert await aio.ping() is True
        return aio._http.is_closed

    import asyncio

    assert asyncio.run(use()) is True


def test_repr_names_the_host_and_not_the_token(make):
    client = make(Script(lambda request: ok("Pong")), token="s3cret")
    assert "submarine.test:8080" in repr(client.client)
    assert "s3cret" not in repr(client.client)
    assert "s3cret" not in repr(client.client._core.credentials)

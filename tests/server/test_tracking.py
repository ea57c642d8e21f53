"""Experiment tracking end to end: replicas call ``submarine.log_metric``/``log_param``, the
local server stores them, the 0.8.0 workbench reads and the typed clients give them back."""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
import threading
from array import array
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine import AsyncExperimentClient, ExperimentClient
from submarine.models import Metric, Param
from submarine.models.trackwire import encode_metrics
from tests.support import make_spec

from .api_support import API, create, fail, ok, wait_status

pytestmark = pytest.mark.slow  # every test runs replicas or a Python of its own

TOKEN = "server-token-xyz"

LOGGER = """
import json, os, sys, urllib.request
import submarine
submarine.log_param("learning_rate", 0.01)
submarine.log_param("optimizer", "sgd")
for step in range(25):
    submarine.log_metric("loss", 1.0 / (step + 1), step=step)
    submarine.log_metric("accuracy", step / 25, step=step)
submarine.log_metric("diverged", float("nan"), step=25)
submarine.tracking.flush()
print("logged", flush=True)
"""

PROBE = """
import json, os, urllib.request, urllib.error
uri, cred = os.environ["SUBMARINE_TRACKING_URI"], os.environ["SUBMARINE_TRACKING_TOKEN"]
def call(method, path, body=None):
    request = urllib.request.Request(uri + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + cred, "Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(request).status
    except urllib.error.HTTPError as exc:
        return exc.code
me = os.environ["JOB_ID"]
other = me[:-4] + "9999"
print("RESULT", json.dumps({
    "token_is_server_token": cred == "SERVER_TOKEN",
    "own": call("POST", "/api/metric/add", {"id": me, "key": "k", "value": 1.0}),
    "other": call("POST", "/api/metric/add", {"id": other, "key": "k", "value": 1.0}),
    "list": call("GET", "/api/v1/experiment"),
    "read": call("POST", "/api/metric/selective", {"id": me}),
}), flush=True)
"""


def _script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return f"python {path}"


def test_replicas_log_metrics_and_params_per_worker(server: Any, tmp_path: Path) -> None:
    spec = make_spec(roles={"Worker": 2}, cmd=_script(tmp_path, "logger.py", LOGGER))
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, spec)["experimentId"]
        done = wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=120)
        assert done["status"] == "Succeeded", ok(http.get(f"{API}/logs/{experiment_id}"))

        metrics = ok(http.post("/api/metric/selective", json={"id": experiment_id}))
        assert len(metrics) == 2 * 51
        assert set(metrics[0]) == {
            "id",
            "key",
            "value",
            "workerIndex",
            "timestamp",
            "step",
            "isNan",
        }
        assert {m["workerIndex"] for m in metrics} == {"worker-0", "worker-1"}
        losses = [m for m in metrics if m["key"] == "loss" and m["workerIndex"] == "worker-1"]
        assert [m["step"] for m in losses] == list(range(25))
        assert losses[3]["value"] == pytest.approx(0.25)
        nan = [m for m in metrics if m["key"] == "diverged"]
        assert [(m["value"], m["isNan"]) for m in nan] == [(0.0, True), (0.0, True)]

        params = ok(http.post("/api/param/selective", json={"id": experiment_id}))
        assert {(p["key"], p["value"], p["workerIndex"]) for p in params} == {
            (key, value, worker)
            for key, value in (("learning_rate", "0.01"), ("optimizer", "sgd"))
            for worker in ("worker-0", "worker-1")
        }
        assert set(params[0]) == {"id", "key", "value", "workerIndex"}

        listed = ok(
            http.get(
                "/api/metric/list",
                params={"id": experiment_id, "metricKey": "accuracy", "workerIndex": "worker-0"},
            )
        )
        assert [m["step"] for m in listed] == list(range(25))
        listed_params = ok(http.get("/api/param/list", params={"id": experiment_id}))
        assert len(listed_params) == 4

    with ExperimentClient(server.url) as client:
        typed = client.get_metrics(experiment_id)
        assert all(isinstance(m, Metric) for m in typed)
        assert len(typed) == 102
        assert all(isinstance(p, Param) for p in client.get_params(experiment_id))


@pytest.mark.anyio
async def test_the_async_client_reads_them_too(server: Any) -> None:
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, make_spec())["experimentId"]
        ok(http.post("/api/metric/add", json={"id": experiment_id, "key": "loss", "value": 2.5}))
        ok(
            http.post(
                "/api/param/add",
                json=[{"id": experiment_id, "key": "lr", "value": 0.1, "workerIndex": "ps-0"}],
            )
        )
    async with AsyncExperimentClient(server.url) as client:
        (metric,) = await client.get_metrics(experiment_id)
        assert (metric.key, metric.value, metric.worker_index) == ("loss", 2.5, "worker-0")
        (param,) = await client.get_params(experiment_id)
        assert (param.key, param.value, param.worker_index) == ("lr", "0.1", "ps-0")


def test_a_replica_credential_adds_to_its_own_experiment_only(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory.start("--token", TOKEN)
    spec = make_spec(cmd=_script(tmp_path, "probe.py", PROBE.replace("SERVER_TOKEN", TOKEN)))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, headers=auth) as http:
        other = create(http, make_spec(cmd="true"))["experimentId"]
        experiment_id = create(http, spec)["experimentId"]
        wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=60)
        log = ok(http.get(f"{API}/logs/{experiment_id}"))["logContent"][0]["podLog"]
        line = next(x for x in log if x.startswith("RESULT "))
        seen = json.loads(line.removeprefix("RESULT "))
        assert seen["token_is_server_token"] is False
        assert seen["own"] == 200
        assert (seen["other"], seen["list"], seen["read"]) == (401, 401, 401)
        # The server's own token may add to any experiment; nothing else may.
        ok(http.post("/api/metric/add", json={"id": other, "key": "k", "value": 1}))
        fail(
            httpx.post(
                f"{server.url}/api/metric/add",
                json={"id": other, "key": "k", "value": 1},
                headers={"Authorization": "Bearer wrong"},
            ),
            401,
        )
        assert len(ok(http.post("/api/metric/selective", json={"id": experiment_id}))) == 1


def test_bad_records_are_refused_naming_the_field(server: Any) -> None:
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, make_spec())["experimentId"]
        message = fail(
            http.post("/api/metric/add", json={"id": experiment_id, "key": "", "value": 1}), 400
        )
        assert "[0].key" in message
        message = fail(
            http.post("/api/metric/add", json={"id": experiment_id, "key": "a", "value": "x"}),
            400,
        )
        assert "[0].value" in message
        assert "'x'" in message
        unknown = "experiment-1-9999"
        fail(http.post("/api/metric/add", json={"id": unknown, "key": "a", "value": 1}), 404)
        fail(http.post("/api/metric/selective", json={}), 400)


def test_deleting_an_experiment_forgets_its_metrics_and_params(server: Any) -> None:
    with httpx.Client(base_url=server.url) as http:
        gone, kept = (create(http, make_spec())["experimentId"] for _ in range(2))
        for experiment_id in (gone, kept):
            batch = encode_metrics(experiment_id, "worker-0", [("loss", 0.5, 1, 0)])
            headers = {"Content-Type": "application/json"}
            assert ok(http.post("/api/metric/add", content=batch, headers=headers)) is True
            record = {"id": experiment_id, "key": "lr", "value": 0.1}
            assert ok(http.post("/api/param/add", json=record)) is True
        assert len(ok(http.post("/api/metric/selective", json={"id": gone}))) == 1

        assert ok(http.delete(f"{API}/{gone}"))["status"] == "Deleted"

        for kind in ("metric", "param"):
            assert ok(http.post(f"/api/{kind}/selective", json={"id": gone})) == []
            assert len(ok(http.post(f"/api/{kind}/selective", json={"id": kept}))) == 1
        late = {"id": gone, "key": "loss", "value": 1.0}
        fail(http.post("/api/metric/add", json=late), 404)
        assert ok(http.get("/api/metric/list", params={"id": gone})) == []


# -- the library outside a server ---------------------------------------------------------


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"JOB_ID", "SUBMARINE_TRACKING_URI", "SUBMARINE_TRACKING_FILE", "TF_CONFIG"}
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_outside_a_replica_log_metric_says_how_to_record_anyway() -> None:
    result = _python("import submarine; submarine.log_metric('loss', 1.0)", {})
    assert result.returncode != 0
    assert "TrackingError: not inside a Submarine replica" in result.stderr
    assert "SUBMARINE_TRACKING_FILE" in result.stderr


def test_records_go_to_a_file_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    code = (
        "import submarine\n"
        "submarine.log_param('lr', 0.5)\n"
        "for s in range(3): submarine.log_metric('loss', s * 1.5, step=s)\n"
    )
    result = _python(code, {"SUBMARINE_TRACKING_FILE": str(target), "RANK": "3"})
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["param", "metric", "metric", "metric"]
    assert [r.get("step") for r in records[1:]] == [0, 1, 2]
    assert {r["workerIndex"] for r in records} == {"worker-3"}


def test_a_server_that_cannot_be_reached_is_a_clear_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]  # bound, then closed: nothing listens there
    code = (
        "import submarine, submarine.tracking as t\nsubmarine.log_metric('loss', 1.0)\nt.flush()\n"
    )
    env = {
        "JOB_ID": "experiment-1-0001",
        "SUBMARINE_TRACKING_URI": f"http://127.0.0.1:{port}",
        "SUBMARINE_TRACKING_EXIT_TIMEOUT": "1",
    }
    result = _python(code, env)
    assert result.returncode != 0
    assert "TrackingError: cannot send 1 metrics" in result.stderr
    assert "still running" in result.stderr


class _Counter(BaseHTTPRequestHandler):
    """Counts the records of each column batch; keeps connections alive as HTTP/1.1 does,
    but drops each one after its answer without saying so (as a server's idle timeout
    does), so the sender must notice and open another."""

    protocol_version = "HTTP/1.1"
    posts: list[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        column = json.loads(body)["columns"]["key"]  # uint32s: 4 bytes a record
        self.posts.append(len(base64.b64decode(column)) // 4)
        answer = json.dumps({"status": "OK", "code": 200, "success": True, "result": True})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[int]]]:
    posts: list[int] = []
    handler = type("Handler", (_Counter,), {"posts": posts})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", posts
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_ten_thousand_metrics_are_sent_in_a_few_batches(
    counting_server: tuple[str, list[int]],
) -> None:
    url, posts = counting_server
    code = "import submarine\nfor s in range(10_000): submarine.log_metric('loss', 0.5, step=s)\n"
    result = _python(code, {"JOB_ID": "experiment-1-0001", "SUBMARINE_TRACKING_URI": url})
    assert result.returncode == 0, result.stderr
    assert sum(posts) == 10_000  # every record arrives, the last ones at exit
    assert len(posts) <= 10, posts  # in batches, not one request a call


def test_the_parameter_server_example_charts_its_loss_per_worker(server: Any) -> None:
    repo = Path(__file__).resolve().parents[2]
    train = repo / "examples" / "ps_digits" / "train.py"
    cmd = f"python {train} --steps 40 --batch-size 32 --log-every 10 --step-time 0"
    spec = make_spec(roles={"Ps": 1}, cmd=cmd)
    spec["spec"]["Worker"] = {"replicas": 2, "resources": "cpu=100m,memory=64M"}
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, spec)["experimentId"]
        done = wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=120)
        assert done["status"] == "Succeeded", ok(http.get(f"{API}/logs/{experiment_id}"))
    with ExperimentClient(server.url) as client:
        metrics = client.get_metrics(experiment_id)
        params = client.get_params(experiment_id)
    for worker in ("worker-0", "worker-1"):
        steps = [m.step for m in metrics if m.key == "loss" and m.worker_index == worker]
        assert steps == list(range(1, 41))
        accuracy = [m.step for m in metrics if m.key == "accuracy" and m.worker_index == worker]
        assert accuracy == [10, 20, 30, 40]
    assert {(p.key, p.value) for p in params} == {("learning_rate", "0.5"), ("batch_size", "32")}


def test_batches_stay_under_the_body_limit_with_long_keys(server: Any) -> None:
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, make_spec())["experimentId"]
    key = "k" * 240  # 5,000 such records would be a body of about 1.3 MB
    code = f"import submarine\nfor s in range(6000): submarine.log_metric({key!r}, s, step=s)\n"
    result = _python(code, {"JOB_ID": experiment_id, "SUBMARINE_TRACKING_URI": server.url})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with ExperimentClient(server.url) as client:
        metrics = client.get_metrics(experiment_id)
    assert [m.step for m in metrics] == list(range(6000))
    assert {m.key for m in metrics} == {key}


THREADS = """
import threading
import numpy as np
import submarine
def log(name):
    for step in range(5000):
        submarine.log_metric(name, step * 0.5, step=np.int64(step))
workers = [threading.Thread(target=log, args=(f"t{n}",)) for n in range(4)]
for worker in workers: worker.start()
for worker in workers: worker.join()
submarine.log_metric("edge", float("inf"))
submarine.log_metric("edge", -0.0, step=-(2**63) + 1)
"""


def test_records_from_several_threads_all_arrive_whole(server: Any) -> None:
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, make_spec())["experimentId"]
    result = _python(THREADS, {"JOB_ID": experiment_id, "SUBMARINE_TRACKING_URI": server.url})
    assert result.returncode == 0, result.stderr
    with ExperimentClient(server.url) as client:
        metrics = client.get_metrics(experiment_id)
    for name in ("t0", "t1", "t2", "t3"):
        mine = [(m.step, m.value) for m in metrics if m.key == name]
        assert mine == [(step, step * 0.5) for step in range(5000)]  # no record torn apart
    edge = [(m.value, m.is_nan, m.step) for m in metrics if m.key == "edge"]
    assert edge == [(math.inf, False, 0), (0.0, False, -(2**63) + 1)]


def _columns(count: int, **changes: Any) -> dict[str, Any]:
    def encoded(code: str, values: list[Any]) -> str:
        return base64.b64encode(array(code, values).tobytes()).decode()

    columns = {
        "keys": ["loss"],
        "key": encoded("I", [0] * count),
        "value": encoded("d", [0.5] * count),
        "step": encoded("q", list(range(count))),
        "timestamp": encoded("q", [0] * count),
    }
    return {**columns, **changes}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"value": "not base64!"}, "columns.value: must be the base64 of little-endian 64-bit"),
        ({"step": base64.b64encode(b"12345").decode()}, "columns.step"),
        ({"key": base64.b64encode(array("I", [0, 0]).tobytes()).decode()}, "got 2, 3, 3"),
        ({"key": base64.b64encode(array("I", [0, 1, 0]).tobytes()).decode()}, "columns.key"),
        ({"keys": []}, "columns.keys: must be a non-empty list"),
        ({"keys": ["x" * 251]}, "[0].key: must be a non-empty string of at most 250"),
    ],
)
def test_a_bad_column_batch_is_refused_naming_the_column(
    server: Any, changes: dict[str, Any], named: str
) -> None:
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, make_spec())["experimentId"]
        good = {"id": experiment_id, "workerIndex": "worker-0", "columns": _columns(3)}
        assert ok(http.post("/api/metric/add", json=good)) is True
        bad = {**good, "columns": _columns(3, **changes)}
        assert named in fail(http.post("/api/metric/add", json=bad), 400)
        stored = ok(http.post("/api/metric/selective", json={"id": experiment_id}))
        assert [m["step"] for m in stored] == [0, 1, 2]  # the good batch only
        assert {m["timestamp"] for m in stored} != {0}  # 0 is "when the server got it"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("log_metric('k' * 251, 1.0)", "ValueError: key must be at most 250 characters, got 251"),
        ("log_metric('', 1.0)", "TypeError: key must be a non-empty string like 'loss'"),
        ("log_metric('loss', 1.0, step=2**63)", "ValueError: step of metric 'loss' must fit"),
        ("log_metric('loss', 1.0, step=1.5)", "TypeError: step of metric 'loss' must be a whole"),
        ("log_metric('loss', '1')", "TypeError: value of metric 'loss' must be a number"),
        ("log_param('lr', 'x' * 251)", "ValueError: value of param 'lr' must be at most 250"),
        ("log_metric('a\\ud800', 1.0)", "ValueError: metric key 'a\\ud800' holds '\\ud800'"),
        ("log_param('lr\\udc00', 1)", "ValueError: param key 'lr\\udc00' holds '\\udc00'"),
        ("log_metric('loss:train', 1.0)", "ValueError: metric key 'loss:train' holds ':'"),
        ("log_metric('/loss', 1.0)", "ValueError: metric key '/loss' is not a normalized path"),
        ("log_param('a/../b', 1)", "it reads as 'b'"),
        ("log_param('lr', 'x\\udfff')", "ValueError: value of param 'lr' must be Unicode text"),
    ],
)
def test_bad_calls_are_refused_at_once_naming_the_argument(call: str, message: str) -> None:
    env = {"JOB_ID": "experiment-1-0001", "SUBMARINE_TRACKING_URI": "http://127.0.0.1:9"}
    result = _python(f"import submarine\nsubmarine.{call}\n", env)
    assert result.returncode != 0
    assert message in result.stderr


class _Refuser(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        answer = json.dumps({"status": "ERROR", "code": 400, "message": "no room for loss"})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: Any) -> None:
        return


REFUSED = """
import submarine
for step in range(12_000):  # three batches at least, each refused
    submarine.log_metric("loss", 1.0, step=step)
print("trained", flush=True)
"""


def test_a_refused_batch_is_said_once_and_training_goes_on() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        result = _python(REFUSED, {"JOB_ID": "experiment-1-0001", "SUBMARINE_TRACKING_URI": url})
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 0, result.stderr
    assert "trained" in result.stdout
    assert result.stderr.count("no room for loss") == 1, result.stderr
    assert "training goes on" in result.stderr
    assert "12000 metrics and 0 params of this process were not recorded" in result.stderr

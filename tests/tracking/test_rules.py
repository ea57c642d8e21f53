"""Submarine 0.8.0's rules of tracking, in process: who a replica records as, which keys and
values it may record, where records go, and 0.8.0's names and signatures."""

from __future__ import annotations

import doctest
import importlib
import inspect
import json
import math
from pathlib import Path
from typing import Any

import pytest

import submarine
from submarine import tracking
from submarine._savemodel import SaveModelError
from submarine._trackclient import target_uri, transport_for
from submarine._trackdb import DEFAULT_DB_URI, DatabaseTransport, is_database_url, shown
from submarine._trackhttp import HttpTransport
from submarine._trackrules import check_key, metric_step, metric_value, param_text
from submarine.models import Framework
from submarine.server.run.distributed import cluster_addresses, framework_env
from submarine.tracking import SubmarineClient, TrackingError, worker_index

DB = "mysql+pymysql://submarine:password@db:3306/submarine"

# -- the worker index ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TF_CONFIG": '{"task": {"type": "worker", "index": 1}}'}, "worker-1"),
        ({"TF_CONFIG": '{"task": {"type": "chief", "index": 0}}', "RANK": "3"}, "chief-0"),
        ({"CLUSTER_SPEC": '{"task": {"job_name": "ps", "index": 2}}'}, "ps-2"),
        (
            {
                "TF_CONFIG": '{"task": {"type": "evaluator", "index": 0}}',
                "CLUSTER_SPEC": '{"task": {"job_name": "ps", "index": 2}}',
            },
            "evaluator-0",
        ),
        ({"CLUSTER_SPEC": '{"task": {"job_name": "worker", "index": 1}}', "RANK": "0"}, "worker-1"),
        ({"RANK": "0"}, "master-0"),
        ({"RANK": "2"}, "worker-2"),
        ({"TF_CONFIG": "not json", "RANK": "2"}, "worker-2"),
        ({"TF_CONFIG": '{"cluster": {}}', "RANK": "0"}, "master-0"),
        ({"RANK": "two"}, "worker-0"),
        ({}, "worker-0"),
    ],
)
def test_the_worker_index_is_0_8_0s(env: dict[str, str], expected: str) -> None:
    assert worker_index(env) == expected


def test_the_pytorch_master_records_as_its_pod_is_named() -> None:
    """The local server sets RANK as Kubeflow's operator does (the Master 0, Worker i
    i + 1), so 0.8.0's rule names the Master's records master-0, like its pod; workers are
    named by their RANK, as in 0.8.0."""
    cluster = cluster_addresses([("Master", 1), ("Worker", 2)], [29500, 29501, 29502])
    names = [
        worker_index(framework_env(Framework.PYTORCH, cluster, role, index))
        for role, index in (("Master", 0), ("Worker", 0), ("Worker", 1))
    ]
    assert names == ["master-0", "worker-1", "worker-2"]


# -- keys and values -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["loss", "eval/loss", "batch size", "a-b_c.d", "损失", "v1.2"])
def test_keys_0_8_0_accepts(key: str) -> None:
    assert check_key(key, "metric") == key


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("loss:train", "holds ':'"),
        ("a\nb", "holds '\\n'"),
        ("loss\n", "holds '\\n'"),  # 0.8.0's `$` lets a final newline through; not here
        ("📉", "holds '📉'"),
        ("/loss", "is not a normalized path (it reads as '/loss')"),
        ("a/../b", "it reads as 'b'"),
        ("..loss", "it reads as '..loss'"),
        ("a//b", "it reads as 'a/b'"),
        ("a/", "it reads as 'a'"),
        (".", "it reads as '.'"),
        ("./a", "it reads as 'a'"),
    ],
)
def test_keys_0_8_0_refuses_are_refused_saying_why(key: str, message: str) -> None:
    with pytest.raises(ValueError, match="metric key") as refused:
        check_key(key, "metric")
    assert message in str(refused.value)
    assert "Submarine's rule" in str(refused.value)


@pytest.mark.parametrize("key", ["", None, 3, b"loss"])
def test_a_key_must_be_a_non_empty_string(key: Any) -> None:
    with pytest.raises(TypeError, match="key must be a non-empty string like 'learning_rate'"):
        check_key(key, "param")


def test_steps_are_0_when_none_and_whole_numbers_otherwise() -> None:
    assert [metric_step("k", s) for s in (None, 0, 7, 3.0, -(2**63) + 1)] == [
        0,
        0,
        7,
        3,
        -(2**63) + 1,
    ]
    with pytest.raises(TypeError, match="step of metric 'k' must be a whole number"):
        metric_step("k", 1.5)
    with pytest.raises(TypeError, match="step of metric 'k'"):
        metric_step("k", True)
    with pytest.raises(ValueError, match="must fit in 64 bits, got 9223372036854775808"):
        metric_step("k", 2**63)


def test_values_are_any_number() -> None:
    assert [metric_value("k", v) for v in (1, True, 0.5)] == [1.0, 1.0, 0.5]  # 0.8.0: Number
    assert math.isnan(metric_value("k", math.nan))
    with pytest.raises(TypeError, match="value of metric 'k' must be a number, got '1'"):
        metric_value("k", "1")
    with pytest.raises(TypeError, match="must be a number"):
        metric_value("k", 1j)


def test_a_params_value_is_at_most_250_characters_as_text() -> None:
    assert param_text("lr", 0.5) == "0.5"
    assert param_text("note", "x" * 250) == "x" * 250
    with pytest.raises(ValueError, match="value of param 'note' must be at most 250 characters"):
        param_text("note", "x" * 251)


def test_records_in_a_file_hold_nan_infinities_and_steps_as_0_8_0_stores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "0")
    target = tmp_path / "records.jsonl"
    tracking.track_to_file(target)
    try:
        submarine.log_metric("loss", 0.5)
        submarine.log_metric("loss", math.nan, step=1)
        submarine.log_metric("loss", -math.inf, step=2)
        submarine.log_param("lr", 0.1)
    finally:
        tracking.track_to_file(None)
    records = [json.loads(line) for line in target.read_text().splitlines()]
    metrics = [(r["value"], r["step"], r["isNan"]) for r in records if r["kind"] == "metric"]
    assert metrics == [(0.5, 0, False), (0.0, 1, True), (-1.7976931348623157e308, 2, False)]
    assert {r["workerIndex"] for r in records} == {"master-0"}


# -- where records go ----------------------------------------------------------------------


def test_db_uri_is_set_else_the_environments_else_0_8_0s_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUBMARINE_DB_URI", raising=False)
    assert submarine.get_db_uri() == DEFAULT_DB_URI
    assert DEFAULT_DB_URI == "mysql+pymysql://submarine:password@submarine-database:3306/submarine"
    monkeypatch.setenv("SUBMARINE_DB_URI", "mysql+pymysql://u:p@env:3306/submarine")
    assert submarine.get_db_uri() == "mysql+pymysql://u:p@env:3306/submarine"
    submarine.set_db_uri(DB)
    try:
        assert submarine.get_db_uri() == DB
    finally:
        submarine.set_db_uri(None)
    assert submarine.get_db_uri() == "mysql+pymysql://u:p@env:3306/submarine"


def test_records_go_to_set_db_uri_then_the_tracking_uri_then_the_db_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"SUBMARINE_DB_URI": DB}
    assert target_uri(env) == DB
    env["SUBMARINE_TRACKING_URI"] = "http://127.0.0.1:8080"
    assert target_uri(env) == "http://127.0.0.1:8080"
    submarine.set_db_uri("mysql+pymysql://u:p@set:3306/submarine")
    try:
        assert target_uri(env) == "mysql+pymysql://u:p@set:3306/submarine"
    finally:
        submarine.set_db_uri(None)
    assert target_uri({}) is None


def test_an_http_address_is_the_local_server_and_anything_else_a_database() -> None:
    assert isinstance(transport_for("http://127.0.0.1:8080", {}), HttpTransport)
    database = transport_for(DB, {})
    assert isinstance(database, DatabaseTransport)
    assert database.where == "the database at mysql+pymysql://submarine:***@db:3306/submarine"
    assert is_database_url("mariadb://u@h/db")
    assert not is_database_url("https://h")
    assert not is_database_url("db:3306")
    assert shown("mysql://u:p%40ss@h/db") == "mysql://u:***@h/db"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sqlite:///tracking.db", "Submarine keeps metrics and params in MySQL"),
        ("postgresql://u:secret@h/db", "not postgresql://"),
        ("mysql+nodriver://u:secret@h/db", "needs the nodriver driver"),
    ],
)
def test_a_database_url_that_is_not_mysql_is_refused_at_once(uri: str, message: str) -> None:
    with pytest.raises(TrackingError, match=message) as refused:
        transport_for(uri, {})
    assert "secret" not in str(refused.value)


def test_a_tracking_uri_that_is_neither_is_refused() -> None:
    with pytest.raises(TrackingError, match="must be an http\\(s\\) URL of a server"):
        transport_for("db:3306", {})


# -- 0.8.0's names -------------------------------------------------------------------------


def test_the_package_has_0_8_0s_tracking_names() -> None:
    for name in ("log_metric", "log_param", "set_db_uri", "get_db_uri"):
        assert name in submarine.__all__
        assert getattr(submarine, name) is getattr(tracking, name)
    assert inspect.signature(submarine.log_metric).parameters["step"].default is None
    assert list(inspect.signature(submarine.set_db_uri).parameters) == ["uri"]


def test_the_client_has_0_8_0s_signatures() -> None:
    def names(method: Any) -> list[str]:
        return [p for p in inspect.signature(method).parameters if p != "self"]

    assert names(SubmarineClient.__init__) == [
        "db_uri",
        "s3_registry_uri",
        "aws_access_key_id",
        "aws_secret_access_key",
        "host",
    ]
    assert names(SubmarineClient.log_metric) == [
        "job_id",
        "key",
        "value",
        "worker_index",
        "timestamp",
        "step",
    ]
    assert inspect.signature(SubmarineClient.log_metric).parameters["step"].default == 0
    assert names(SubmarineClient.log_param) == ["job_id", "key", "value", "worker_index"]
    assert names(SubmarineClient.create_serve) == ["model_name", "model_version", "async_req"]


def test_what_the_client_does_not_do_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOB_ID", raising=False)
    client = SubmarineClient(DB)  # nothing is connected before a record is written
    assert (client.db_uri, client.experiment_id) == (DB, None)
    # save_model is submarine.save_model's: its own checks, then the local server's upload.
    with pytest.raises(ValueError, match="needs input_dim and output_dim"):
        client.save_model(object(), "pytorch")
    with pytest.raises(SaveModelError, match="JOB_ID"):
        client.save_model(object(), "tensorflow")
    with pytest.raises(NotImplementedError, match="does not serve models"):
        client.create_serve("model", 1)
    with pytest.raises(NotImplementedError, match="does not serve models"):
        client.delete_serve("model", 1)
    with pytest.raises(ValueError, match="worker_index must be a name like 'worker-0'"):
        client.log_param("experiment-1-0001", "lr", 0.1, "")
    with pytest.raises(TypeError, match="timestamp of metric 'loss' must be a datetime"):
        client.log_metric("experiment-1-0001", "loss", 1.0, "worker-0", "yesterday")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "submarine._trackrules",
        "submarine._trackdb",
        "submarine.models.tracking",
        "submarine.models.trackwire",
        "submarine.tracking",
    ],
)
def test_the_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0

"""``list_experiments`` checks the answer at once and validates each experiment when it is
first read: the same experiments as the eager lenient parse, the same errors."""

from __future__ import annotations

import gc
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import submarine.client._base as base
from submarine.client import InvalidResponseError, ServerError
from submarine.client._base import GC_PAUSE_BYTES, Envelope, decode_experiments
from submarine.models import Experiment, ExperimentList
from tests.client.conftest import Script, assert_same_experiments, envelope, experiment, ok
from tests.client.strategies import experiments

URL = "http://submarine.test:8080/api/v1/experiment"


def answer(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, request=httpx.Request("GET", URL))


@settings(max_examples=150, deadline=None)
@given(st.lists(experiments, max_size=3))
def test_same_experiments_as_the_eager_lenient_parse(items):
    body = envelope(items)
    lazy = decode_experiments(answer(body))
    eager = Envelope[list[Experiment]].model_validate_json(body).result
    assert isinstance(lazy, ExperimentList)
    assert lazy == eager
    assert_same_experiments(lazy, eager)


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"status": "Running"}, r"result\.1\.experimentId"),
        ({"experimentId": 5}, r"result\.1\.experimentId"),
        ("experiment-1", r"result\.1"),
    ],
)
def test_an_item_that_is_not_an_experiment_fails_at_once_naming_it(make, item, where):
    client = make(lambda request: ok([experiment("a"), item]))
    with pytest.raises(InvalidResponseError, match=where) as caught:
        client.list_experiments()
    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    "result",
    [{"experimentId": "a"}, "not a list", None],
)
def test_a_result_that_is_not_a_list_is_an_invalid_response(make, result):
    client = make(lambda request: ok(result))
    with pytest.raises(InvalidResponseError):
        client.list_experiments()


def test_a_failure_in_a_200_is_still_the_servers_error(make):
    client = make(lambda request: ok([], success=False, code=500, message="boom"))
    with pytest.raises(ServerError, match="boom"):
        client.list_experiments()


def test_an_experiment_is_validated_when_first_read_and_kept(make):
    broken = {"experimentId": "b", "status": "Running", "spec": "not a spec"}
    found = make(Script(lambda request: ok([experiment("a"), broken, experiment("c")])))
    listed = found.list_experiments()
    assert len(listed) == 3
    first = listed[0]
    assert first.experiment_id == "a"
    assert listed[0] is first
    assert listed[-1].experiment_id == "c"
    with pytest.raises(InvalidResponseError, match=r"result\.1\.spec") as caught:
        listed[1]
    assert "GET " in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)


def test_the_status_filter_reads_only_the_raw_status(make):
    broken = {"experimentId": "b", "status": "Succeeded", "spec": "not a spec"}
    items = [experiment("a", "Running"), broken, {"experimentId": "c", "status": 7}]
    listed = make(lambda request: ok(items)).list_experiments("running")
    assert [e.experiment_id for e in listed] == ["a"]
    assert isinstance(listed, ExperimentList)


def test_plain_list_and_to_dict_of_a_listed_answer(make):
    items = [experiment("a"), experiment("b", "Succeeded")]
    listed = make(lambda request: ok(items)).list_experiments()
    as_list = list(listed)
    assert type(as_list) is list
    assert [e.to_dict() for e in listed] == items
    assert listed.to_list() == items
    assert listed[1:] == [Experiment.model_validate(items[1])]


def test_a_large_body_is_parsed_with_the_collector_paused_and_restored(monkeypatch):
    seen: list[bool] = []
    real = base.pydantic_core.from_json

    class Spy:
        @staticmethod
        def from_json(data: bytes) -> Any:
            seen.append(gc.isenabled())
            return real(data)

    monkeypatch.setattr(base, "pydantic_core", Spy)
    small = envelope([experiment("a")])
    large = envelope([experiment(f"e-{i}") for i in range(200)])
    assert len(small) < GC_PAUSE_BYTES <= len(large)
    assert gc.isenabled()
    assert len(decode_experiments(answer(small))) == 1
    assert len(decode_experiments(answer(large))) == 200
    assert seen == [True, False]
    assert gc.isenabled()
    with pytest.raises(InvalidResponseError):
        decode_experiments(answer(large[: len(large) // 2]))
    assert gc.isenabled()
    gc.disable()
    try:
        decode_experiments(answer(large))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_same_error_as_other_methods_for_a_body_that_is_not_json():
    with pytest.raises(InvalidResponseError, match="not Submarine's JSON envelope"):
        decode_experiments(answer(b"Pong, not JSON"))
    body = json.dumps({"success": True, "result": [{"experimentId": "a"}]}).encode()
    assert [e.experiment_id for e in decode_experiments(answer(body))] == ["a"]

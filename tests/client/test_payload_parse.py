"""The client parses payloads with plain ``Envelope[T].model_validate_json``: the payload
types are lenient however they are parsed, so this gives exactly what
``Experiment.model_validate`` gives, from any thread, and never touches user-input rules."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from submarine.client._decode import Envelope, parse
from submarine.models import (
    Experiment,
    ExperimentLog,
    ExperimentSpec,
    ExperimentSpecPayload,
    ExperimentStatus,
)
from tests.client.conftest import assert_same_experiments, envelope, experiment
from tests.client.strategies import experiments


def EXPERIMENTS(body: bytes) -> Envelope[Any]:
    """The client's parse of a list of experiments."""
    return parse(list[Experiment], body)


@settings(max_examples=150, deadline=None)
@given(st.lists(experiments, max_size=3))
def test_same_experiments_as_model_validate(items):
    parsed = EXPERIMENTS(envelope(items)).result
    assert parsed is not None
    assert_same_experiments(parsed, [Experiment.model_validate(item) for item in items])


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"status": "Running"}, ("result", "experimentId")),
        ({"experimentId": 5}, ("result", "experimentId")),
        ({"experimentId": "e", "spec": "not a spec"}, ("result", "spec")),
        (
            {"experimentId": "e", "spec": {"spec": {"Worker": {"replicas": "x"}}}},
            ("result", "spec", "spec", "Worker", "replicas"),
        ),
    ],
)
def test_only_what_no_server_sends_is_refused(payload, where):
    body = envelope(payload)
    with pytest.raises(ValidationError) as caught:
        parse(Experiment, body)
    assert caught.value.errors()[0]["loc"][: len(where)] == where


def test_nothing_of_a_spec_is_judged_in_a_payload():
    spec = {
        "meta": {"name": "-not a valid name-", "framework": "Caffe", "envVars": None},
        "environment": {"name": "only-a-name"},
        "spec": {"Driver": {"replicas": 0, "resources": "gpu=1"}},
        "code": {"syncMode": "hdfs", "git": {"url": "git@host:repo"}},
    }
    got = EXPERIMENTS(envelope([{"experimentId": "e", "spec": spec}])).result
    assert got is not None
    assert isinstance(got[0].spec, ExperimentSpecPayload)
    assert got[0].spec.to_dict() == spec


def test_logs_parse_keeping_unknown_keys():
    body = envelope(
        {"experimentId": "e", "logContent": [{"podName": "e-ps-0", "podLog": ["a"], "x": 1}]}
    )
    parsed = parse(ExperimentLog, body).result
    assert parsed == ExperimentLog.model_validate_json(json.dumps(json.loads(body)["result"]))
    assert parsed is not None
    assert parsed.to_dict() == json.loads(body)["result"]


def test_the_input_models_stay_strict():
    EXPERIMENTS(envelope([experiment("a")]))
    with pytest.raises(ValidationError, match="unknown key 'replica'"):
        ExperimentSpec.model_validate(
            {
                "meta": {"name": "x", "framework": "TensorFlow", "cmd": "true"},
                "environment": {"image": "busybox"},
                "spec": {"Worker": {"replica": 1, "resources": "cpu=1"}},
            }
        )


def test_the_real_experiment_fixture_round_trips():
    payload = experiment("experiment-1647192232698-0001", "Succeeded")
    got = EXPERIMENTS(envelope([payload])).result
    assert got is not None
    assert got[0].status is ExperimentStatus.SUCCEEDED
    assert got[0].is_terminal
    assert got[0].spec is not None
    assert got[0].spec.roles["Worker"].resources == "cpu=1,memory=1024M"
    assert got[0].to_dict() == payload


def test_parsing_from_many_threads_at_once_gives_the_same_models():
    bodies = [envelope([experiment(f"e-{i}-{j}") for j in range(20)]) for i in range(8)]
    want = [
        [item.to_dict() for item in Envelope[list[Experiment]].model_validate_json(b).result or []]
        for b in bodies
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(
            pool.map(lambda b: [e.to_dict() for e in EXPERIMENTS(b).result or []], bodies * 4)
        )
    assert got == want * 4

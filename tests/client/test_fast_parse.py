"""The fast payload parser gives exactly what ``model_validate_json(..., context=LENIENT)``
gives, and leaves the models' own (strict) validation untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError, field_validator
from submarine.client._base import GC_PAUSE_BYTES, LOG, Envelope, PayloadParser

from submarine.models import (
    LENIENT,
    Experiment,
    ExperimentLog,
    ExperimentSpec,
    ExperimentStatus,
)
from submarine.models.experiment import PayloadModel
from tests.client.conftest import assert_same_experiments, envelope, experiment
from tests.client.strategies import experiments

EXPERIMENTS = PayloadParser[list[Experiment]](list[Experiment])


def both(parser: PayloadParser[Any], model: type[Any], body: bytes) -> tuple[Any, Any]:
    return parser(body), model.model_validate_json(body, context=LENIENT)


def test_the_parsers_are_fast():
    assert EXPERIMENTS.fast
    assert LOG.fast


@settings(max_examples=150, deadline=None)
@given(st.lists(experiments, max_size=3))
def test_same_models_as_the_ordinary_lenient_parse(items):
    body = envelope(items)
    fast, ordinary = both(EXPERIMENTS, Envelope[list[Experiment]], body)
    assert fast == ordinary
    assert_same_experiments(fast.result, ordinary.result)


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "Running"},
        {"experimentId": 5},
        {"experimentId": "e", "spec": {"meta": {"name": "x"}}},
        {"experimentId": "e", "spec": "not a spec"},
    ],
)
def test_same_refusals_as_the_ordinary_lenient_parse(payload):
    body = envelope(payload)
    with pytest.raises(ValidationError) as fast:
        PayloadParser[Experiment](Experiment)(body)
    with pytest.raises(ValidationError) as ordinary:
        Envelope[Experiment].model_validate_json(body, context=LENIENT)
    locs = [e["loc"] for e in fast.value.errors()]
    assert locs == [e["loc"] for e in ordinary.value.errors()]


def test_logs_parse_the_same():
    body = envelope(
        {"experimentId": "e", "logContent": [{"podName": "e-ps-0", "podLog": ["a"], "x": 1}]}
    )
    fast, ordinary = both(LOG, Envelope[ExperimentLog], body)
    assert fast == ordinary
    assert fast.result.to_dict() == json.loads(body)["result"]


def test_the_models_stay_strict_for_user_input():
    PayloadParser[Experiment](Experiment)
    with pytest.raises(ValidationError, match="unknown key 'replica'"):
        ExperimentSpec.model_validate(
            {
                "meta": {"name": "x", "framework": "TensorFlow", "cmd": "true"},
                "environment": {"image": "busybox"},
                "spec": {"Worker": {"replica": 1}},
            }
        )
    assert Experiment.__pydantic_complete__
    assert ExperimentSpec.__pydantic_complete__


class Tweaked(PayloadModel):
    """A payload model with a validator the fast parser does not know."""

    value: str

    @field_validator("value")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


def test_an_unknown_validator_is_never_skipped():
    parser = PayloadParser[Tweaked](Tweaked)
    assert not parser.fast
    assert parser(envelope({"value": "abc"})).result.value == "ABC"


def test_the_real_experiment_fixture_round_trips():
    payload = experiment("experiment-1647192232698-0001", "Succeeded")
    got = EXPERIMENTS(envelope([payload])).result[0]
    assert got.status is ExperimentStatus.SUCCEEDED
    assert got.is_terminal
    assert got.spec is not None
    assert got.spec.spec["Worker"].resources == "cpu=1,memory=1024M"


def test_no_python_validator_runs_on_the_fast_path(monkeypatch):
    import submarine.models._base as base
    import submarine.models.spec as spec

    calls: list[object] = []
    original = base.is_lenient

    def counting(info: Any) -> bool:
        calls.append(info)
        return original(info)

    monkeypatch.setattr(base, "is_lenient", counting)
    monkeypatch.setattr(spec, "is_lenient", counting)
    body = envelope([experiment("a"), experiment("b")])
    EXPERIMENTS(body)
    assert calls == []
    Envelope[list[Experiment]].model_validate_json(body, context=LENIENT)
    assert len(calls) > 10


def test_a_large_parse_pauses_the_collector_and_restores_it(monkeypatch):
    import gc

    seen: list[bool] = []
    parser = PayloadParser[list[Experiment]](list[Experiment])
    inner = parser._parser()

    def spy(data: bytes) -> Any:
        seen.append(gc.isenabled())
        return inner(data)

    monkeypatch.setattr(parser, "_parse", spy)
    small = envelope([experiment("a")])
    large = envelope([experiment(f"e-{i}") for i in range(200)])
    assert len(small) < GC_PAUSE_BYTES <= len(large)
    assert gc.isenabled()
    parser(small)
    parser(large)
    assert seen == [True, False]
    assert gc.isenabled()
    with pytest.raises(ValidationError):
        parser(large.replace(b'"experimentId"', b'"experimentID"'))
    assert gc.isenabled()
    gc.disable()
    try:
        parser(large)
        assert not gc.isenabled()
    finally:
        gc.enable()

"""Property tests: any JSON either validates or raises ValidationError with readable problems."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from submarine.models import Experiment, ExperimentLog, ExperimentSpec, problems_of
from submarine.models.schema import spec_schema

from .fixtures import VALID_SPECS

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "meta",
    "spec",
    "environment",
    "name",
    "framework",
    "cmd",
    "replicas",
    "resources",
    "envVars",
    "code",
    "git",
    "Worker",
    "Ps",
    "Master",
    "image",
    "syncMode",
    "url",
    "branch",
    "resourceMap",
    "experimentHandlerSpec",
    "Chief",
    "Evaluator",
]


@st.composite
def near_valid_specs(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(list(VALID_SPECS.values()))))
    for _ in range(draw(st.integers(1, 4))):
        node = data
        path = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3))
        for key in path[:-1]:
            child = node.get(key) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                break
            node = child
        if isinstance(node, dict):
            if draw(st.booleans()):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = draw(json_values)
    return data


SCHEMA = jsonschema.Draft202012Validator(spec_schema())


def check_spec(data: Any) -> None:
    """The spec validates, or every problem has a message; what validates, the JSON Schema
    accepts too (it never refuses what the model accepts)."""
    try:
        ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        found = problems_of(exc)
        assert found
        assert all(p.message for p in found)
        return
    errors = [error.message for error in SCHEMA.iter_errors(data)]
    assert not errors, errors


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_specs())
def test_near_valid_specs_validate_or_raise_validation_error(data: Any) -> None:
    check_spec(data)


@settings(max_examples=200)
@given(json_values)
def test_arbitrary_json_validates_or_raises_validation_error(data: Any) -> None:
    check_spec(data)


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["experimentId", "status", "spec", "acceptedTime", "logContent", "x"]),
        json_values,
    )
)
def test_arbitrary_payloads_raise_only_validation_error(data: Any) -> None:
    for model in (Experiment, ExperimentLog):
        try:
            parsed = model.model_validate(data)
        except ValidationError:
            continue
        assert parsed.to_dict() is not None

"""The exception tree: as drawn in the errors module's docstring, all exported."""

from __future__ import annotations

import re

import pytest

import submarine
from submarine.client import errors
from submarine.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ExperimentFailedError,
    InvalidResponseError,
    NotFoundError,
    ServerError,
    SpecValidationError,
    SubmarineError,
    WaitTimeoutError,
)
from submarine.models import ExperimentLog, Problem

TREE = {
    SpecValidationError: SubmarineError,
    APIConnectionError: SubmarineError,
    APITimeoutError: APIConnectionError,
    APIStatusError: SubmarineError,
    BadRequestError: APIStatusError,
    AuthenticationError: APIStatusError,
    NotFoundError: APIStatusError,
    ConflictError: APIStatusError,
    ServerError: APIStatusError,
    InvalidResponseError: SubmarineError,
    WaitTimeoutError: SubmarineError,
    ExperimentFailedError: SubmarineError,
}


@pytest.mark.parametrize(("child", "parent"), TREE.items())
def test_tree(child, parent):
    assert child.__mro__[1] is parent
    assert child.__doc__


def test_the_docstring_draws_every_class_at_its_depth():
    doc = errors.__doc__ or ""
    for cls, parent in TREE.items():
        depth = 1
        while parent is not SubmarineError:
            depth += 1
            parent = TREE[parent]
        drawn = re.search(rf"^(.*?)── {cls.__name__}\b", doc, re.MULTILINE)
        assert drawn is not None, cls.__name__
        assert len(drawn.group(1)) == 5 + 4 * (depth - 1), cls.__name__


def test_every_error_is_exported_at_the_top():
    for cls in [SubmarineError, *TREE]:
        assert getattr(submarine, cls.__name__) is cls
        assert cls.__name__ in submarine.__all__


def test_value_and_timeout_errors_are_also_the_builtin_kinds():
    assert issubclass(SpecValidationError, ValueError)
    assert issubclass(WaitTimeoutError, TimeoutError)


def test_spec_validation_error_lists_problems_one_a_line():
    problems = [Problem(("meta", "name"), "is required"), Problem(("spec",), "has no roles")]
    error = SpecValidationError(problems)
    assert str(error) == (
        "invalid experiment spec (2 problems):\n  meta.name: is required\n  spec: has no roles"
    )
    assert error.problems == problems


def test_status_error_attributes_and_message():
    error = NotFoundError(404, "Not found experiment.", b"{}", request="GET http://h/x")
    assert (error.status_code, error.message, error.body) == (404, "Not found experiment.", b"{}")
    assert str(error) == "Not found experiment. (HTTP 404 from GET http://h/x)"


def test_wait_timeout_and_failure_messages():
    timeout = WaitTimeoutError("experiment-1", 30, "Running")
    assert "experiment-1" in str(timeout)
    assert "30 s" in str(timeout)
    assert "timeout=None" in str(timeout)
    log = ExperimentLog.model_validate(
        {"experimentId": "e", "logContent": [{"podName": "e-worker-0", "podLog": ["a", "b"]}]}
    )
    failed = ExperimentFailedError("e", "Failed", log)
    assert str(failed).startswith("experiment e ended with status Failed")
    assert "e-worker-0: b" in str(failed)

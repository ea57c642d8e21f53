"""The public surface: ``submarine.__all__`` sorted, resolvable, cheap to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import submarine
import submarine.models


def test_all_is_sorted_and_unique():
    assert submarine.__all__ == sorted(submarine.__all__)
    assert len(set(submarine.__all__)) == len(submarine.__all__)


def test_every_name_in_all_resolves():
    for name in submarine.__all__:
        assert getattr(submarine, name) is not None, name


def test_every_public_name_has_a_docstring():
    for name in submarine.__all__:
        if name != "__version__":
            assert getattr(submarine, name).__doc__, name


def test_star_import_gives_the_client_the_errors_and_the_models():
    namespace: dict[str, object] = {}
    exec("from submarine import *", namespace)
    from submarine.client import AsyncExperimentClient, ExperimentClient, NotFoundError

    assert namespace["ExperimentClient"] is ExperimentClient
    assert namespace["AsyncExperimentClient"] is AsyncExperimentClient
    assert namespace["NotFoundError"] is NotFoundError
    for model in (
        "ExperimentSpec",
        "ExperimentSpecPayload",
        "Experiment",
        "ExperimentLog",
        "ExperimentStatus",
        "Problem",
        "ResourceError",
    ):
        assert namespace[model] is getattr(submarine.models, model)


def test_the_models_export_no_validation_context():
    assert "LENIENT" not in submarine.models.__all__
    assert not hasattr(submarine.models, "LENIENT")


def test_unknown_attribute_is_an_attribute_error():
    missing = "NoSuchThing"
    with pytest.raises(AttributeError, match=missing):
        getattr(submarine, missing)


@pytest.mark.slow
def test_import_submarine_is_cheap():
    code = (
        "import sys, submarine; "
        "heavy = [m for m in ('httpx', 'pydantic', 'submarine.client') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""

"""submarine-sdk: a typed client for Apache Submarine's experiment service.

``from submarine import *`` gives :class:`ExperimentClient` and the models, as in
Submarine's documentation. Names load on first use, so ``import submarine`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from submarine._version import __version__

if TYPE_CHECKING:
    from submarine.models import (
        CodeSpec,
        EnvironmentSpec,
        Experiment,
        ExperimentLog,
        ExperimentMeta,
        ExperimentSpec,
        ExperimentStatus,
        ExperimentTaskSpec,
        Framework,
        GitCodeSpec,
        KernelSpec,
        PodLog,
        ReplicaSpec,
        Resources,
    )

_LAZY: dict[str, str] = {
    "CodeSpec": "submarine.models",
    "EnvironmentSpec": "submarine.models",
    "Experiment": "submarine.models",
    "ExperimentLog": "submarine.models",
    "ExperimentMeta": "submarine.models",
    "ExperimentSpec": "submarine.models",
    "ExperimentStatus": "submarine.models",
    "ExperimentTaskSpec": "submarine.models",
    "Framework": "submarine.models",
    "GitCodeSpec": "submarine.models",
    "KernelSpec": "submarine.models",
    "PodLog": "submarine.models",
    "ReplicaSpec": "submarine.models",
    "Resources": "submarine.models",
}

__all__ = [
    "CodeSpec",
    "EnvironmentSpec",
    "Experiment",
    "ExperimentLog",
    "ExperimentMeta",
    "ExperimentSpec",
    "ExperimentStatus",
    "ExperimentTaskSpec",
    "Framework",
    "GitCodeSpec",
    "KernelSpec",
    "PodLog",
    "ReplicaSpec",
    "Resources",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'submarine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

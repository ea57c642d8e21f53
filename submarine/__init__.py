"""submarine-sdk: a typed client for Apache Submarine's experiment service.

``from submarine import *`` gives :class:`ExperimentClient` and the models, as in
Submarine's documentation. Names load on first use, so ``import submarine`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from submarine._exports import lazy_exports
from submarine._version import __version__

if TYPE_CHECKING:
    from submarine.client import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AsyncExperimentClient,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        DeadlineExceededError,
        ExperimentClient,
        ExperimentFailedError,
        InvalidResponseError,
        NotFoundError,
        ResponseTooLargeError,
        ServerError,
        SpecValidationError,
        SubmarineError,
        WaitTimeoutError,
    )
    from submarine.models import (
        CodeSpec,
        EnvironmentSpec,
        Experiment,
        ExperimentList,
        ExperimentLog,
        ExperimentMeta,
        ExperimentSpec,
        ExperimentSpecPayload,
        ExperimentStatus,
        ExperimentTaskSpec,
        Framework,
        GitCodeSpec,
        KernelSpec,
        PodLog,
        Problem,
        ReplicaSpec,
        ResourceError,
        Resources,
    )
    from submarine.tracking import get_db_uri, log_metric, log_param, set_db_uri

_LAZY: dict[str, str] = {
    "APIConnectionError": "submarine.client",
    "APIStatusError": "submarine.client",
    "APITimeoutError": "submarine.client",
    "AsyncExperimentClient": "submarine.client",
    "AuthenticationError": "submarine.client",
    "BadRequestError": "submarine.client",
    "CodeSpec": "submarine.models",
    "ConflictError": "submarine.client",
    "DeadlineExceededError": "submarine.client",
    "EnvironmentSpec": "submarine.models",
    "Experiment": "submarine.models",
    "ExperimentClient": "submarine.client",
    "ExperimentFailedError": "submarine.client",
    "ExperimentList": "submarine.models",
    "ExperimentLog": "submarine.models",
    "ExperimentMeta": "submarine.models",
    "ExperimentSpec": "submarine.models",
    "ExperimentSpecPayload": "submarine.models",
    "ExperimentStatus": "submarine.models",
    "ExperimentTaskSpec": "submarine.models",
    "Framework": "submarine.models",
    "GitCodeSpec": "submarine.models",
    "InvalidResponseError": "submarine.client",
    "KernelSpec": "submarine.models",
    "NotFoundError": "submarine.client",
    "PodLog": "submarine.models",
    "Problem": "submarine.models",
    "ReplicaSpec": "submarine.models",
    "ResourceError": "submarine.models",
    "Resources": "submarine.models",
    "ResponseTooLargeError": "submarine.client",
    "ServerError": "submarine.client",
    "SpecValidationError": "submarine.client",
    "SubmarineError": "submarine.client",
    "WaitTimeoutError": "submarine.client",
    "get_db_uri": "submarine.tracking",
    "log_metric": "submarine.tracking",
    "log_param": "submarine.tracking",
    "set_db_uri": "submarine.tracking",
}

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncExperimentClient",
    "AuthenticationError",
    "BadRequestError",
    "CodeSpec",
    "ConflictError",
    "DeadlineExceededError",
    "EnvironmentSpec",
    "Experiment",
    "ExperimentClient",
    "ExperimentFailedError",
    "ExperimentList",
    "ExperimentLog",
    "ExperimentMeta",
    "ExperimentSpec",
    "ExperimentSpecPayload",
    "ExperimentStatus",
    "ExperimentTaskSpec",
    "Framework",
    "GitCodeSpec",
    "InvalidResponseError",
    "KernelSpec",
    "NotFoundError",
    "PodLog",
    "Problem",
    "ReplicaSpec",
    "ResourceError",
    "Resources",
    "ResponseTooLargeError",
    "ServerError",
    "SpecValidationError",
    "SubmarineError",
    "WaitTimeoutError",
    "__version__",
    "get_db_uri",
    "log_metric",
    "log_param",
    "set_db_uri",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

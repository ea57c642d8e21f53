"""The clients of a Submarine experiment service, and every error they raise.

:class:`ExperimentClient` blocks; :class:`AsyncExperimentClient` is its asyncio mirror,
with the same methods and signatures. :class:`EnvironmentClient` and
:class:`AsyncEnvironmentClient` manage the server's environments. The exception tree is
drawn in :mod:`submarine.client.errors`.

Code written for ``apache-submarine`` 0.8.0 finds its names here too: the spec models
(``from submarine.client import GitCodeSpec``, the same classes as in
:mod:`submarine.models`), ``ApiException`` and ``OpenApiException``
(:mod:`submarine.client.exceptions`, bases of the errors a server's answer raises), and the
modules ``submarine.client.api.experiment_client``, ``submarine.client.api.environment_client``
and ``submarine.client.models.<model>``.

Names load on first use (PEP 562), so ``from submarine.client import ExperimentClient``
does not import the async client. :class:`Timeout` is the value of the
clients' ``timeout=``; :class:`LogStream` (:class:`AsyncLogStream`) is what ``stream_logs``
gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from submarine._exports import lazy_exports

if TYPE_CHECKING:
    from submarine.client._compat import AsyncResult
    from submarine.client._stream import AsyncLogStream, LogStream
    from submarine.client.async_ import AsyncExperimentClient
    from submarine.client.config import Timeout
    from submarine.client.environments import AsyncEnvironmentClient, EnvironmentClient
    from submarine.client.errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        DeadlineExceededError,
        ExperimentFailedError,
        InvalidResponseError,
        NotFoundError,
        NotSupportedError,
        ResponseTooLargeError,
        ServerError,
        SpecValidationError,
        SubmarineError,
        TemplateValidationError,
        WaitTimeoutError,
    )
    from submarine.client.exceptions import ApiException, OpenApiException
    from submarine.client.sync import ExperimentClient
    from submarine.models import (
        CodeSpec,
        EnvironmentSpec,
        ExperimentMeta,
        ExperimentSpec,
        ExperimentTaskSpec,
        GitCodeSpec,
        KernelSpec,
    )

_ERRORS = "submarine.client.errors"
_MODELS = "submarine.models"
_ENVIRONMENTS = "submarine.client.environments"
_LAZY: dict[str, str] = {
    "APIConnectionError": _ERRORS,
    "APIStatusError": _ERRORS,
    "APITimeoutError": _ERRORS,
    "ApiException": "submarine.client.exceptions",
    "AsyncEnvironmentClient": _ENVIRONMENTS,
    "AsyncExperimentClient": "submarine.client.async_",
    "AsyncLogStream": "submarine.client._stream",
    "AsyncResult": "submarine.client._compat",
    "AuthenticationError": _ERRORS,
    "BadRequestError": _ERRORS,
    "CodeSpec": _MODELS,
    "ConflictError": _ERRORS,
    "DeadlineExceededError": _ERRORS,
    "EnvironmentClient": _ENVIRONMENTS,
    "EnvironmentSpec": _MODELS,
    "ExperimentClient": "submarine.client.sync",
    "ExperimentFailedError": _ERRORS,
    "ExperimentMeta": _MODELS,
    "ExperimentSpec": _MODELS,
    "ExperimentTaskSpec": _MODELS,
    "GitCodeSpec": _MODELS,
    "InvalidResponseError": _ERRORS,
    "KernelSpec": _MODELS,
    "LogStream": "submarine.client._stream",
    "NotFoundError": _ERRORS,
    "NotSupportedError": _ERRORS,
    "OpenApiException": "submarine.client.exceptions",
    "ResponseTooLargeError": _ERRORS,
    "ServerError": _ERRORS,
    "SpecValidationError": _ERRORS,
    "SubmarineError": _ERRORS,
    "TemplateValidationError": _ERRORS,
    "Timeout": "submarine.client.config",
    "WaitTimeoutError": _ERRORS,
}

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ApiException",
    "AsyncEnvironmentClient",
    "AsyncExperimentClient",
    "AsyncLogStream",
    "AsyncResult",
    "AuthenticationError",
    "BadRequestError",
    "CodeSpec",
    "ConflictError",
    "DeadlineExceededError",
    "EnvironmentClient",
    "EnvironmentSpec",
    "ExperimentClient",
    "ExperimentFailedError",
    "ExperimentMeta",
    "ExperimentSpec",
    "ExperimentTaskSpec",
    "GitCodeSpec",
    "InvalidResponseError",
    "KernelSpec",
    "LogStream",
    "NotFoundError",
    "NotSupportedError",
    "OpenApiException",
    "ResponseTooLargeError",
    "ServerError",
    "SpecValidationError",
    "SubmarineError",
    "TemplateValidationError",
    "Timeout",
    "WaitTimeoutError",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

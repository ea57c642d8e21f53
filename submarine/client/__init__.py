"""The clients of a Submarine experiment service, and every error they raise.

:class:`ExperimentClient` blocks; :class:`AsyncExperimentClient` is its asyncio mirror,
with the same methods and signatures. :class:`EnvironmentClient` and
:class:`AsyncEnvironmentClient` manage the server's environments. The exception tree is
drawn in :mod:`submarine.client.errors`.

Code written for ``apache-submarine`` 0.8.0 finds its names here too: the spec models
(``from submarine.client import GitCodeSpec``, the same classes as in
:mod:`submarine.models`), ``ApiException`` and ``OpenApiException``
(:mod:`submarine.client.exceptions`, bases of the errors a server's answer raises), the
modules ``submarine.client.api.experiment_client``, ``submarine.client.api.environment_client``
and ``submarine.client.models.<model>``, and 0.8.0's generated template classes
(``ExperimentTemplateApi``, ``ExperimentTemplatesApi``, ``ExperimentApi``, made with an
``ApiClient`` of a ``Configuration``; see :mod:`submarine.client.api`), whose answers are a
:class:`JsonResponse` with a typed ``result``.

Names load on first use (PEP 562), so ``from submarine.client import ExperimentClient``
does not import the async client. :class:`Timeout` is the value of the
clients' ``timeout=``; :class:`LogStream` (:class:`AsyncLogStream`) is what ``stream_logs``
gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from submarine._exports import lazy_exports

if TYPE_CHECKING:
    from submarine.client._compat import AsyncResult, JsonResponse
    from submarine.client._stream import AsyncLogStream, LogStream
    from submarine.client.api.experiment_api import ExperimentApi
    from submarine.client.api.experiment_template_api import ExperimentTemplateApi
    from submarine.client.api.experiment_templates_api import ExperimentTemplatesApi
    from submarine.client.api_client import ApiClient
    from submarine.client.async_ import AsyncExperimentClient
    from submarine.client.config import Timeout
    from submarine.client.configuration import Configuration
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
        ExperimentTemplateParamSpec,
        ExperimentTemplateSpec,
        ExperimentTemplateSubmit,
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
    "ApiClient": "submarine.client.api_client",
    "ApiException": "submarine.client.exceptions",
    "AsyncEnvironmentClient": _ENVIRONMENTS,
    "AsyncExperimentClient": "submarine.client.async_",
    "AsyncLogStream": "submarine.client._stream",
    "AsyncResult": "submarine.client._compat",
    "AuthenticationError": _ERRORS,
    "BadRequestError": _ERRORS,
    "CodeSpec": _MODELS,
    "Configuration": "submarine.client.configuration",
    "ConflictError": _ERRORS,
    "DeadlineExceededError": _ERRORS,
    "EnvironmentClient": _ENVIRONMENTS,
    "EnvironmentSpec": _MODELS,
    "ExperimentApi": "submarine.client.api.experiment_api",
    "ExperimentClient": "submarine.client.sync",
    "ExperimentFailedError": _ERRORS,
    "ExperimentMeta": _MODELS,
    "ExperimentSpec": _MODELS,
    "ExperimentTaskSpec": _MODELS,
    "ExperimentTemplateApi": "submarine.client.api.experiment_template_api",
    "ExperimentTemplateParamSpec": _MODELS,
    "ExperimentTemplateSpec": _MODELS,
    "ExperimentTemplateSubmit": _MODELS,
    "ExperimentTemplatesApi": "submarine.client.api.experiment_templates_api",
    "GitCodeSpec": _MODELS,
    "InvalidResponseError": _ERRORS,
    "JsonResponse": "submarine.client._compat",
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
    "ApiClient",
    "ApiException",
    "AsyncEnvironmentClient",
    "AsyncExperimentClient",
    "AsyncLogStream",
    "AsyncResult",
    "AuthenticationError",
    "BadRequestError",
    "CodeSpec",
    "Configuration",
    "ConflictError",
    "DeadlineExceededError",
    "EnvironmentClient",
    "EnvironmentSpec",
    "ExperimentApi",
    "ExperimentClient",
    "ExperimentFailedError",
    "ExperimentMeta",
    "ExperimentSpec",
    "ExperimentTaskSpec",
    "ExperimentTemplateApi",
    "ExperimentTemplateParamSpec",
    "ExperimentTemplateSpec",
    "ExperimentTemplateSubmit",
    "ExperimentTemplatesApi",
    "GitCodeSpec",
    "InvalidResponseError",
    "JsonResponse",
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

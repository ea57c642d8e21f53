"""The clients of a Submarine experiment service, and every error they raise.

:class:`ExperimentClient` blocks; :class:`AsyncExperimentClient` is its asyncio mirror,
with the same methods and signatures. The exception tree is drawn in
:mod:`submarine.client.errors`.

Names load on first use (PEP 562), so ``from submarine.client import ExperimentClient``
does not import the async client. :class:`Timeout` is the value of the
clients' ``timeout=``; :class:`LogStream` (:class:`AsyncLogStream`) is what ``stream_logs``
gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from submarine._exports import lazy_exports

if TYPE_CHECKING:
    from submarine.client._stream import AsyncLogStream, LogStream
    from submarine.client.async_ import AsyncExperimentClient
    from submarine.client.config import Timeout
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
    from submarine.client.sync import ExperimentClient

_ERRORS = "submarine.client.errors"
_LAZY: dict[str, str] = {
    "APIConnectionError": _ERRORS,
    "APIStatusError": _ERRORS,
    "APITimeoutError": _ERRORS,
    "AsyncExperimentClient": "submarine.client.async_",
    "AsyncLogStream": "submarine.client._stream",
    "AuthenticationError": _ERRORS,
    "BadRequestError": _ERRORS,
    "ConflictError": _ERRORS,
    "DeadlineExceededError": _ERRORS,
    "ExperimentClient": "submarine.client.sync",
    "ExperimentFailedError": _ERRORS,
    "InvalidResponseError": _ERRORS,
    "LogStream": "submarine.client._stream",
    "NotFoundError": _ERRORS,
    "NotSupportedError": _ERRORS,
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
    "AsyncExperimentClient",
    "AsyncLogStream",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DeadlineExceededError",
    "ExperimentClient",
    "ExperimentFailedError",
    "InvalidResponseError",
    "LogStream",
    "NotFoundError",
    "NotSupportedError",
    "ResponseTooLargeError",
    "ServerError",
    "SpecValidationError",
    "SubmarineError",
    "TemplateValidationError",
    "Timeout",
    "WaitTimeoutError",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

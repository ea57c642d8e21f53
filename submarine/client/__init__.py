"""The clients of a Submarine experiment service, and every error they raise.

:class:`ExperimentClient` blocks; :class:`AsyncExperimentClient` is its asyncio mirror,
with the same methods and signatures. The exception tree is drawn in
:mod:`submarine.client.errors`.
"""

from submarine.client.async_ import AsyncExperimentClient
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
from submarine.client.sync import ExperimentClient

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncExperimentClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ExperimentClient",
    "ExperimentFailedError",
    "InvalidResponseError",
    "NotFoundError",
    "ServerError",
    "SpecValidationError",
    "SubmarineError",
    "WaitTimeoutError",
]

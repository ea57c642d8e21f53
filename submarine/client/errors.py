"""Every exception the client raises, in one tree.

::

    SubmarineError                base of everything below
    ├── SpecValidationError       (also ValueError) an invalid spec; nothing was sent
    │   └── TemplateValidationError   ... an invalid template, or template parameters
    ├── APIConnectionError        the server could not be reached, or the connection broke
    │   └── APITimeoutError       ... because a connect/read/write/pool timeout expired
    │       └── DeadlineExceededError ... or the call's overall deadline passed
    ├── APIStatusError            the server answered an error (status_code, message, body);
    │   │                         also 0.8.0's ApiException (status, reason, body)
    │   ├── BadRequestError       400; HTTP 200 with success null ("Invalid experiment spec.")
    │   ├── AuthenticationError   401, 403 (no token, a wrong token, wrong username/password)
    │   ├── NotFoundError         404 ("Not found experiment.")
    │   ├── ConflictError         409 ("Duplicated experiment name")
    │   └── ServerError           5xx (including proxy pages: 502, 503, 504)
    ├── InvalidResponseError      a success status whose body is not Submarine's envelope
    ├── ResponseTooLargeError     an answer longer than the client's max_answer_bytes
    ├── NotSupportedError         the server does not offer what was asked (an extension)
    ├── WaitTimeoutError          (also TimeoutError) wait_for_finish gave up after `timeout`
    └── ExperimentFailedError     wait_for_finish(raise_on_failure=True) saw status Failed

No exception of httpx, json or pydantic escapes the client: transport errors are
re-raised as :class:`APIConnectionError` ``from`` the original, so ``__cause__`` keeps
the details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from submarine.client._terminal import printable
from submarine.client.exceptions import ApiException

if TYPE_CHECKING:
    from submarine.models import ExperimentLog, Problem

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DeadlineExceededError",
    "ExperimentFailedError",
    "InvalidResponseError",
    "NotFoundError",
    "NotSupportedError",
    "ResponseTooLargeError",
    "ServerError",
    "SpecValidationError",
    "SubmarineError",
    "TemplateValidationError",
    "WaitTimeoutError",
]


class SubmarineError(Exception):
    """Base class of every error raised by the Submarine client.

    >>> try:
    ...     raise NotFoundError(404, "Not found experiment.", b"")
    ... except SubmarineError as exc:
    ...     print(exc)
    Not found experiment. (HTTP 404)
    """


class SpecValidationError(SubmarineError, ValueError):
    """An experiment spec (or an environment: ``subject``) that fails validation; raised
    before anything is sent.

    ``problems`` holds every problem, each with its wire-name path
    (``str(problem) == "spec.Worker.resources: ..."``); the message lists them, one a line.
    """

    def __init__(self, problems: list[Problem], *, subject: str = "experiment spec") -> None:
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid {subject} ({count} {noun}):\n{lines}")


class TemplateValidationError(SpecValidationError):
    """An experiment template, or the values given for its parameters, that fail
    validation; raised before anything is sent.

    ``problems`` holds every problem with its wire-name path
    (``experimentSpec.meta.cmd: placeholder {{lr}} has no parameter: ...``).
    """

    def __init__(self, problems: list[Problem], *, subject: str = "experiment template") -> None:
        super().__init__(problems, subject=subject)


class NotSupportedError(SubmarineError):
    """The server does not offer what was asked: an extension of the local server that
    Submarine itself lacks (previewing a template). Nothing was sent for it.

    ``feature`` names the extension, as the server's ping would announce it.
    """

    def __init__(self, feature: str, message: str) -> None:
        self.feature = feature
        super().__init__(message)


class APIConnectionError(SubmarineError):
    """The server could not be reached, or the connection broke before an answer.

    ``method`` and ``url`` name the request; ``__cause__`` is the transport error.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        self.method = method
        self.url = url
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout expired before the server answered."""


class DeadlineExceededError(APITimeoutError):
    """A call was not over within the client's ``deadline``: every attempt, the pauses
    between them and the whole answer, however slowly the server sent it.

    ``deadline`` is the call's deadline in seconds; ``method`` and ``url`` name the request.
    """

    def __init__(self, deadline: float, *, method: str, url: str) -> None:
        self.deadline = deadline
        super().__init__(
            f"{method} {url} did not finish within its deadline of {deadline:g} s (every "
            "attempt and the whole answer); pass a larger deadline= to the client, or "
            "deadline=None for none, if the server is this slow",
            method=method,
            url=url,
        )


class APIStatusError(SubmarineError, ApiException):
    """The server answered with an error.

    ``status_code`` is the HTTP status the server sent (200 for the "Invalid experiment
    spec." quirk), ``message`` the server's own message when it sent one (else a sentence
    built from the status and a short excerpt of the body), ``body`` the raw body. It is
    also 0.8.0's :class:`~submarine.client.exceptions.ApiException`, whose ``status`` is
    ``status_code`` and ``reason`` the status's phrase.
    """

    body: bytes

    def __init__(self, status_code: int, message: str, body: bytes, *, request: str = "") -> None:
        self.status_code = status_code
        self.message = message
        self.request = request
        origin = f" from {request}" if request else ""
        ApiException.__init__(
            self, status_code, body=body, message=f"{message} (HTTP {status_code}{origin})"
        )


class BadRequestError(APIStatusError):
    """HTTP 400, or HTTP 200 with ``success`` not true (the server's null-spec answer)."""


class AuthenticationError(APIStatusError):
    """HTTP 401 or 403: no token, an invalid token, or a wrong username/password."""


class NotFoundError(APIStatusError):
    """HTTP 404: no experiment with that id (``Not found experiment.``)."""


class ConflictError(APIStatusError):
    """HTTP 409: a duplicated experiment name, or a patch the server's submitter refused."""


class ServerError(APIStatusError):
    """HTTP 5xx: the server failed, or a proxy in front of it answered 502/503/504."""


class InvalidResponseError(SubmarineError):
    """A success status whose body is not Submarine's JSON envelope.

    ``status_code`` is the HTTP status, ``body`` the raw body; the message quotes a short
    excerpt of it.
    """

    def __init__(self, message: str, *, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(message)


class ResponseTooLargeError(SubmarineError):
    """An answer longer than the client's ``max_answer_bytes``; reading stopped there.

    ``limit`` is the cap in bytes, ``method`` and ``path`` name the request.
    """

    def __init__(self, limit: int, *, method: str, path: str) -> None:
        self.limit = limit
        self.method = method
        self.path = path
        super().__init__(
            f"{method} {path} answered more than max_answer_bytes={limit} "
            f"({_size(limit)}); reading stopped there. Pass a larger max_answer_bytes= to "
            "the client (None for no limit) if so large an answer is expected"
        )


def _size(count: int) -> str:
    """A byte count as people read it: ``256 MiB``, ``1.5 KiB``, ``100 bytes``."""
    if count < 1024:
        return f"{count} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.4g} {unit}"
        value /= 1024
    return f"{value:.4g} GiB"


class WaitTimeoutError(SubmarineError, TimeoutError):
    """``wait_for_finish`` gave up: the experiment was not finished after ``timeout`` seconds.

    ``experiment_id``, ``timeout`` and ``status`` (the last status seen) say which and where.
    """

    def __init__(self, experiment_id: str, timeout: float, status: str) -> None:
        self.experiment_id = experiment_id
        self.timeout = timeout
        self.status = status
        shown = status or "unknown"
        super().__init__(
            f"experiment {experiment_id} did not finish within {timeout:g} s "
            f"(last status: {shown}); pass a larger timeout, or timeout=None to wait for ever"
        )


class ExperimentFailedError(SubmarineError):
    """``wait_for_finish(..., raise_on_failure=True)`` saw the experiment end as Failed.

    ``experiment_id``, ``status`` and ``log`` (the final :class:`ExperimentLog`) are kept.
    """

    def __init__(self, experiment_id: str, status: str, log: ExperimentLog) -> None:
        self.experiment_id = experiment_id
        self.status = status
        self.log = log
        tail = [
            f"{printable(pod.pod_name)}: {printable(line)}"
            for pod in log.pods
            for line in pod.lines[-3:]
        ]
        detail = ("; last lines:\n  " + "\n  ".join(tail)) if tail else ""
        super().__init__(f"experiment {experiment_id} ended with status {status}{detail}")

"""The exceptions of Submarine 0.8.0's client, under their 0.8.0 names, as bases of the
client's own.

Code written for ``apache-submarine`` 0.8.0 catches ``ApiException`` around its calls;
here every error answer of a server is an :class:`~submarine.client.errors.APIStatusError`,
which is an :class:`ApiException` with 0.8.0's attributes: ``status`` (the HTTP status),
``reason`` (its phrase, like ``Not Found``) and ``body`` (the answer as received: bytes,
which ``json.loads`` reads as 0.8.0's text was read). So this keeps working::

    from submarine.client.exceptions import ApiException

    try:
        client.get_experiment(experiment_id)
    except ApiException as err:
        print(err.status, json.loads(err.body)["message"])  # 404 Not found experiment.

As on 0.8.0, a server that cannot be reached is not an ``ApiException``
(:class:`~submarine.client.errors.APIConnectionError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

__all__ = ["ApiException", "OpenApiException", "reason_phrase"]


def reason_phrase(status: int) -> str:
    """The reason phrase of an HTTP status (``404`` -> ``Not Found``); empty for an
    unknown status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class OpenApiException(Exception):  # noqa: N818 (0.8.0's name)
    """The base of 0.8.0's client exceptions (here: of :class:`ApiException`)."""


class ApiException(OpenApiException):
    """A server answered with an error: 0.8.0's ``ApiException``, the base of
    :class:`~submarine.client.errors.APIStatusError`.

    >>> from submarine.client.errors import NotFoundError
    >>> err = NotFoundError(404, "Not found experiment.", b'{"message": "Not found experiment."}')
    >>> isinstance(err, ApiException), err.status, err.reason
    (True, 404, 'Not Found')

    :param status: the HTTP status.
    :param reason: its reason phrase (by default the standard one of ``status``).
    :param http_resp: an answer with 0.8.0's ``status``, ``reason``, ``data`` and
        ``getheaders()``, read instead of ``status`` and ``reason`` when given.
    :param body: the body of the answer.
    :param headers: the headers of the answer.
    :param message: what ``str()`` of the exception says (by default 0.8.0's text:
        ``(404)\\nReason: Not Found\\n``).
    """

    status: int | None
    """The HTTP status of the answer."""
    reason: str | None
    """The reason phrase of the status."""
    body: bytes | str | None
    """The body of the answer."""
    headers: Mapping[str, str] | None
    """The headers of the answer, when they were kept."""

    def __init__(
        self,
        status: int | None = None,
        reason: str | None = None,
        http_resp: Any = None,
        *,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        if http_resp is not None:
            status = getattr(http_resp, "status", status)
            reason = getattr(http_resp, "reason", reason)
            body = getattr(http_resp, "data", body)
            read_headers = getattr(http_resp, "getheaders", None)
            headers = dict(read_headers()) if callable(read_headers) else headers
        if reason is None and status is not None:
            reason = reason_phrase(status)
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers
        if message is None:
            message = f"({status})\nReason: {reason}\n"
            if headers:
                message += f"HTTP response headers: {headers}\n"
            if body:
                message += f"HTTP response body: {body!r}\n"
        super().__init__(message)

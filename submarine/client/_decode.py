"""From an HTTP answer to a typed result, or to the one exception it means.

Submarine wraps every answer in an envelope (``status``, ``code``, ``success``,
``message``, ``result``, ``attributes``). :func:`decode` gives the ``result`` as the type
asked for; an error status, an envelope without success, or a body that is not the
envelope raises the matching exception of :mod:`submarine.client.errors`. Payloads are
parsed in one place, :func:`parse`.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar, cast

import httpx
import pydantic_core
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from submarine.client.config import redact_url
from submarine.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidResponseError,
    NotFoundError,
    ServerError,
    SubmarineError,
)
from submarine.models import Experiment, ExperimentList

__all__ = [
    "Envelope",
    "ExtensionAnswer",
    "decode",
    "decode_envelope",
    "decode_experiments",
    "envelope_model",
    "error_for_response",
    "excerpt",
    "parse",
    "transport_error",
]

T = TypeVar("T")


class ExtensionAnswer(BaseModel):
    """The base of the answers of this server's extensions (log-stream and tracking pages):
    camelCase on the wire, unknown keys ignored, built when the first answer is read."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        defer_build=True,
    )


_EXCERPT = 160
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_HEAD = re.compile(r"<head\b.*?</head\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")

_STATUS_ERRORS: Final[dict[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
}
"""The exception of each HTTP status; any 5xx is a ServerError, any other an APIStatusError."""

_CREDENTIALS_HINT: Final = (
    " -- check the credentials: token= (or SUBMARINE_TOKEN), or username= and "
    "password= (or SUBMARINE_USERNAME and SUBMARINE_PASSWORD)"
)


class Envelope(BaseModel, Generic[T]):
    """Submarine's response envelope; ``result`` is the payload.

    Each ``Envelope[T]`` builds its validator when it first reads a payload, not at import.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)

    status: str | None = None
    code: int | None = None
    success: bool | None = None
    message: str | None = None
    result: T | None = None
    attributes: dict[str, Any] | None = None


@functools.cache
def envelope_model(result_type: Any) -> type[Envelope[Any]]:
    """``Envelope[result_type]``, built the first time a payload of that type is read."""
    return cast("type[Envelope[Any]]", Envelope.__class_getitem__(result_type))  # Envelope[T]


def parse(result_type: Any, data: bytes) -> Envelope[Any]:
    """The envelope of a ``result_type`` payload in ``data``: the one place payloads are
    parsed (``pydantic.ValidationError`` when the JSON does not fit)."""
    return envelope_model(result_type).model_validate_json(data)


def _loose(body: bytes) -> Envelope[Any] | None:
    """The envelope of any result, or None when the body is not one."""
    try:
        return parse(Any, body)
    except ValidationError:
        return None


# -- answers to exceptions -----------------------------------------------------------


def excerpt(body: bytes, limit: int = _EXCERPT) -> str:
    """A short, one-line excerpt of a body: HTML tags dropped, whitespace collapsed."""
    text = body[:16384].decode("utf-8", errors="replace")
    if "<" in text and ">" in text:
        # The <head> mostly repeats the page's heading as its title: read the body.
        body_only = _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", _HEAD.sub(" ", text)))).strip()
        text = body_only or html.unescape(_TAGS.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(response: httpx.Response) -> str:
    """``METHOD URL`` of the request an answer belongs to."""
    request = response.request
    return redact_url(f"{request.method} {request.url}")


def _status_class(status: int) -> type[APIStatusError]:
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, APIStatusError)


def _is_success(envelope: Envelope[Any]) -> bool:
    return envelope.success is True or (envelope.success is None and envelope.result is not None)


def _invalid(response: httpx.Response, problem: str) -> InvalidResponseError:
    status = response.status_code
    return InvalidResponseError(
        f"{describe(response)} answered HTTP {status} with {problem}: "
        f"{excerpt(response.content)!r}",
        status_code=status,
        body=response.content,
    )


def _error(response: httpx.Response, envelope: Envelope[Any] | None) -> SubmarineError:
    status = response.status_code
    body = response.content
    if 200 <= status < 300:
        if envelope is None:
            return _invalid(response, "a body that is not Submarine's JSON envelope")
        code = envelope.code
        kind = _status_class(code) if code is not None and code >= 400 else BadRequestError
        reason = envelope.message or "the server did not report success and sent no result"
        return kind(status, reason, body, request=describe(response))
    message = envelope.message if envelope is not None else None
    if not message:
        reason = httpx.codes.get_reason_phrase(status)
        text = excerpt(body)
        message = f"the server answered HTTP {status} {reason}".rstrip()
        if text:
            message += f": {text}"
    if status in (401, 403):
        message += _CREDENTIALS_HINT
    return _status_class(status)(status, message, body, request=describe(response))


def error_for_response(response: httpx.Response) -> SubmarineError:
    """The one exception that an answer means when it is not a success.

    The message is the server's ``message`` when the body is Submarine's envelope, else
    a sentence with the status and a short excerpt of the body (an HTML error page).
    """
    return _error(response, _loose(response.content))


def _wrong_field(exc: ValidationError, *prefix: str | int) -> tuple[str, str]:
    first = exc.errors(include_url=False)[0]
    return ".".join(str(part) for part in (*prefix, *first["loc"])), first["msg"]


def decode_envelope(result_type: type[T], response: httpx.Response) -> Envelope[T]:
    """The envelope of a successful answer, with its ``result_type`` result; anything else
    raises ours."""
    status = response.status_code
    if not 200 <= status < 300:
        raise error_for_response(response)
    content = response.content
    try:
        envelope = parse(result_type, content)
    except ValidationError as exc:
        loose = _loose(content)
        if loose is None or not _is_success(loose):
            raise _error(response, loose) from exc
        where, why = _wrong_field(exc)
        raise _invalid(
            response, f"an envelope whose {where} is not what Submarine sends ({why})"
        ) from exc
    if not _is_success(envelope):
        raise _error(response, envelope)
    if envelope.result is None:
        raise _invalid(response, "success but no result")
    return envelope


def decode(result_type: type[T], response: httpx.Response) -> T:
    """The ``result_type`` result of a successful answer; anything else raises the
    matching exception."""
    result = decode_envelope(result_type, response).result
    assert result is not None  # decode_envelope refuses an envelope without one
    return result


# -- lists ---------------------------------------------------------------------------------


def _list_result(document: Any) -> list[dict[str, Any]] | None:
    """The items of a successful list envelope of the expected shape, else None."""
    if type(document) is not dict:
        return None
    success = document.get("success")
    result = document.get("result")
    if not (success is True or (success is None and result is not None)):
        return None
    if type(result) is not list:
        return None
    for item in result:
        if type(item) is not dict or type(item.get("experimentId")) is not str:
            return None
    return result


def _item_error(response: httpx.Response) -> Callable[[int, ValidationError], Exception]:
    """What an :class:`ExperimentList` of this answer raises for an item it cannot read."""

    def invalid(index: int, exc: ValidationError) -> InvalidResponseError:
        where, why = _wrong_field(exc, "result", index)
        return _invalid(response, f"an envelope whose {where} is not what Submarine sends ({why})")

    return invalid


def decode_experiments(response: httpx.Response) -> ExperimentList:
    """The experiments of a successful list answer, each validated when first read.

    The envelope and the shape of every item (an object with a string ``experimentId``) are
    checked at once; an answer that is not a successful list of experiments raises what
    :func:`decode` raises for it (the server's error, or ``InvalidResponseError`` naming
    the first field that is wrong). An item that turns out not to be an experiment when it
    is read raises ``InvalidResponseError`` naming ``result.<index>.<field>``.
    """
    status = response.status_code
    if not 200 <= status < 300:
        raise error_for_response(response)
    try:
        document = pydantic_core.from_json(response.content)
    except ValueError:
        document = None
    items = _list_result(document)
    if items is None:
        # Not the expected shape: the eager decoder says why, with the usual errors.
        return ExperimentList.of(decode(list[Experiment], response))
    return ExperimentList(items, invalid=_item_error(response))


# -- transport failures ----------------------------------------------------------------------


def transport_error(exc: httpx.RequestError, method: str, url: str) -> APIConnectionError:
    """Our exception for a transport failure; raise it ``from`` the original."""
    detail = redact_url(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"{method} {url} timed out ({type(exc).__name__}: {detail}); pass a larger "
            "timeout= to the client if the server is slow",
            method=method,
            url=url,
        )
    return APIConnectionError(
        f"cannot reach the Submarine server: {method} {url} failed "
        f"({type(exc).__name__}: {detail}); check the host (host=, SUBMARINE_HOST) "
        "and that the server is running",
        method=method,
        url=url,
    )

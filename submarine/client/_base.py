"""What the sync and async clients share, none of it I/O.

URLs, the envelope and its decoding, the mapping of an HTTP answer to an exception, the
retry policy, spec coercion, status filtering, the master pod of a log, and the state
of a log follower. The two clients only send requests and sleep.

Importing this module imports neither httpx nor asyncio: ``httpx`` is a
:class:`~submarine.client._lazy.LazyModule` until a client is created, and the envelope
models of each result type are built on first use.
"""

from __future__ import annotations

import gc
import json
import os
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timezone
from typing import IO, TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from submarine._version import __version__
from submarine.client._lazy import LazyModule
from submarine.client.config import Credentials, resolve_credentials, resolve_host
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
    SpecValidationError,
    SubmarineError,
    WaitTimeoutError,
)
from submarine.models import (
    Experiment,
    ExperimentList,
    ExperimentLog,
    ExperimentSpec,
    ExperimentSpecPayload,
    ExperimentStatus,
    parse_status,
    problems_of,
)

if TYPE_CHECKING:
    import httpx
else:
    httpx = LazyModule("httpx")

T = TypeVar("T")

API_PATH: Final = "/api/v1/experiment"
"""The experiment service, below the host."""
TOKEN_PATH: Final = "/api/auth/token"
"""Where a username and password are exchanged for a token."""
USER_AGENT: Final = f"submarine-sdk/{__version__}"
"""Sent with every request."""


class _DefaultTimeout(float):
    """60 seconds for reads, writes and pool waits, and 5 for connecting."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT_TIMEOUT"


DEFAULT_TIMEOUT: Final[float] = _DefaultTimeout(60.0)
"""The clients' default ``timeout``: connect within 5 s; every read, write and pool wait
within 60 s. (A float of 60 that :func:`make_timeout` recognises.)"""
GC_PAUSE_BYTES: Final = 64 * 1024
"""Bodies at least this large are parsed with the cyclic garbage collector paused."""
LOG_STREAM: Final = "log-stream"
"""The local server's extension for following logs with a cursor and a long poll."""
LOG_STREAM_LIMIT: Final = 1 << 20
"""How many bytes of log one log-stream call asks for at most."""
RETRY_STATUSES: Final = frozenset({502, 503, 504})
"""Statuses a proxy answers while the server is (re)starting: worth another try."""
TERMINAL_NAMES: Final = frozenset({"succeeded", "failed", "deleted"})
"""Terminal statuses, lower-cased."""

_EXCERPT = 160
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_HEAD = re.compile(r"<head\b.*?</head\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
_POD_ROLE = re.compile(r"-([A-Za-z]+)-([0-9]+)$")


# -- the envelope ------------------------------------------------------------------


class Envelope(BaseModel, Generic[T]):
    """Submarine's response envelope; ``result`` is the payload."""

    model_config = ConfigDict(extra="ignore")

    status: str | None = None
    code: int | None = None
    success: bool | None = None
    message: str | None = None
    result: T | None = None
    attributes: dict[str, Any] | None = None


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
    )


class StreamPod(_Wire):
    """New lines of one pod in a log-stream page."""

    pod_name: str
    lines: list[str] = Field(default_factory=list)


class LogStreamPage(_Wire):
    """One answer of the log-stream extension."""

    experiment_id: str | None = None
    status: str | None = None
    pods: list[StreamPod] = Field(default_factory=list)
    cursor: str | None = None
    more: bool = False


def _paused(parse: Any, data: bytes) -> Any:
    """``parse(data)``; a large body with the cyclic garbage collector paused.

    Parsing a large body creates tens of thousands of containers at once, which makes
    CPython's collector run several times during the parse, each time walking all that the
    parse has built so far; that costs more than the parse. Nothing a parse creates is
    cyclic garbage, so pausing the collector only defers work that would find nothing. A
    caller that turned the collector off keeps it off.
    """
    if len(data) < GC_PAUSE_BYTES or not gc.isenabled():
        return parse(data)
    gc.disable()
    try:
        return parse(data)
    finally:
        gc.enable()


class PayloadParser(Generic[T]):
    """Parses a JSON envelope of ``result_type``: ``Envelope[result_type].model_validate_json``.

    The envelope model and its validator are built on first use, so importing the client
    builds none of them. The payload types are plain (no Python validators but the times'),
    so the parse runs in pydantic-core.
    """

    __slots__ = ("_model", "result_type")

    def __init__(self, result_type: Any) -> None:
        self.result_type = result_type
        self._model: type[Envelope[T]] | None = None

    @property
    def model(self) -> type[Envelope[T]]:
        """The envelope model, built on first use."""
        model = self._model
        if model is None:
            parameterized = Envelope.__class_getitem__(self.result_type)  # Envelope[result_type]
            model = self._model = cast("type[Envelope[T]]", parameterized)
        return model

    def __call__(self, data: bytes) -> Envelope[T]:
        """The parsed envelope; a ``pydantic.ValidationError`` when the JSON does not fit."""
        parsed: Envelope[T] = _paused(self.model.model_validate_json, data)
        return parsed


# One parser per result type; each builds its envelope model the first time it parses.
EXPERIMENT: Final = PayloadParser[Experiment](Experiment)
LOG: Final = PayloadParser[ExperimentLog](ExperimentLog)
LOGS: Final = PayloadParser[list[ExperimentLog]](list[ExperimentLog])
TEXT: Final = PayloadParser[str](str)
PAGE: Final = PayloadParser[LogStreamPage](LogStreamPage)
_ANY: Final = PayloadParser[Any](Any)


def __getattr__(name: str) -> Any:
    # ``ANY``, the envelope of any result, is built on first use like the parsers.
    if name == "ANY":
        return _ANY.model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- answers to exceptions -----------------------------------------------------------


def excerpt(body: bytes, limit: int = _EXCERPT) -> str:
    """A short, one-line excerpt of a body: HTML tags dropped, whitespace collapsed."""
    text = body[:16384].decode("utf-8", errors="replace")
    if "<" in text and ">" in text:
        import html

        # The <head> mostly repeats the page's heading as its title: read the body.
        body_only = _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", _HEAD.sub(" ", text)))).strip()
        text = body_only or html.unescape(_TAGS.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url}"


def _status_class(status: int) -> type[APIStatusError]:
    if status == 400:
        return BadRequestError
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status >= 500:
        return ServerError
    return APIStatusError


def _is_success(envelope: Envelope[Any]) -> bool:
    return envelope.success is True or (envelope.success is None and envelope.result is not None)


def _error(response: httpx.Response, envelope: Envelope[Any] | None) -> SubmarineError:
    status = response.status_code
    body = response.content
    ok = 200 <= status < 300
    if ok and envelope is None:
        return InvalidResponseError(
            f"{_describe(response)} answered HTTP {status} with a body that is not "
            f"Submarine's JSON envelope: {excerpt(body)!r}",
            status_code=status,
            body=body,
        )
    message = envelope.message if envelope is not None else None
    if ok:
        assert envelope is not None
        code = envelope.code
        kind = _status_class(code) if code is not None and code >= 400 else BadRequestError
        return kind(
            status,
            message or "the server did not report success and sent no result",
            body,
            request=_describe(response),
        )
    if not message:
        reason = httpx.codes.get_reason_phrase(status)
        text = excerpt(body)
        message = f"the server answered HTTP {status} {reason}".rstrip()
        if text:
            message += f": {text}"
    if status in (401, 403):
        message += (
            " -- check the credentials: token= (or SUBMARINE_TOKEN), or username= and "
            "password= (or SUBMARINE_USERNAME and SUBMARINE_PASSWORD)"
        )
    return _status_class(status)(status, message, body, request=_describe(response))


def _loose(body: bytes) -> Envelope[Any] | None:
    try:
        return _ANY.model.model_validate_json(body)
    except ValidationError:
        return None


def error_for_response(response: httpx.Response) -> SubmarineError:
    """The one exception that an answer means when it is not a success.

    The message is the server's ``message`` when the body is Submarine's envelope, else
    a sentence with the status and a short excerpt of the body (an HTML error page).
    """
    return _error(response, _loose(response.content))


def decode_envelope(parse: PayloadParser[T], response: httpx.Response) -> Envelope[T]:
    """The envelope of a successful answer, with its result; anything else raises ours."""
    status = response.status_code
    if not 200 <= status < 300:
        raise error_for_response(response)
    content = response.content
    try:
        envelope = parse(content)
    except ValidationError as exc:
        loose = _loose(content)
        if loose is None or not _is_success(loose):
            raise _error(response, loose) from exc
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidResponseError(
            f"{_describe(response)} answered HTTP {status} with an envelope whose {where} "
            f"is not what Submarine sends ({first['msg']}): {excerpt(content)!r}",
            status_code=status,
            body=content,
        ) from exc
    if not _is_success(envelope):
        raise _error(response, envelope)
    if envelope.result is None:
        raise InvalidResponseError(
            f"{_describe(response)} answered HTTP {status} with success but no result: "
            f"{excerpt(content)!r}",
            status_code=status,
            body=content,
        )
    return envelope


def decode(parse: PayloadParser[T], response: httpx.Response) -> T:
    """The result of a successful answer; anything else raises the matching exception."""
    result = decode_envelope(parse, response).result
    assert result is not None
    return result


def _invalid_item(response: httpx.Response) -> Any:
    """What an :class:`ExperimentList` of this answer raises for an item it cannot read."""
    status = response.status_code
    content = response.content
    request = _describe(response)

    def invalid(index: int, exc: ValidationError) -> InvalidResponseError:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in ("result", index, *first["loc"]))
        return InvalidResponseError(
            f"{request} answered HTTP {status} with an envelope whose {where} is not what "
            f"Submarine sends ({first['msg']}): {excerpt(content)!r}",
            status_code=status,
            body=content,
        )

    return invalid


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
    content = response.content
    try:
        document = _paused(pydantic_core.from_json, content)
    except ValueError:
        document = None
    items = _list_result(document)
    if items is None:
        # Not the expected shape: the eager decoder says why, with the usual errors.
        found: list[Experiment] = decode(_EXPERIMENTS, response)
        return ExperimentList.of(found)
    return ExperimentList(items, invalid=_invalid_item(response))


_EXPERIMENTS: Final = PayloadParser[list[Experiment]](list[Experiment])


def transport_error(exc: httpx.RequestError, method: str, url: str) -> APIConnectionError:
    """Our exception for a transport failure; raise it ``from`` the original."""
    detail = str(exc) or type(exc).__name__
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


# -- retries --------------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from now (seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass
class RetryPolicy:
    """When to try a request again, and how long to wait first.

    Connection errors and 502/503/504 are retried for idempotent requests (GET, PATCH,
    DELETE, ping, login); a POST that creates an experiment only when the connection was
    never made, so a retry cannot create a duplicate. 4xx answers are never retried.
    """

    max_retries: int = 2
    """How many times a request is tried again after the first attempt."""
    backoff: float = 0.5
    """Base delay in seconds: attempt n waits about ``backoff * 2**n``, with jitter."""
    max_backoff: float = 8.0
    """The longest backoff delay."""
    max_retry_after: float = 60.0
    """The longest ``Retry-After`` honoured."""

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be a whole number, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")
        if self.backoff < 0:
            raise ValueError(f"retry_backoff must be 0 or more seconds, got {self.backoff}")

    def retry_error(self, attempt: int, exc: httpx.RequestError, idempotent: bool) -> bool:
        """Whether a transport error on attempt ``attempt`` (0-based) is worth another try."""
        if attempt >= self.max_retries:
            return False
        if idempotent:
            return True
        return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))

    def retry_status(self, attempt: int, status: int, idempotent: bool) -> bool:
        """Whether an answer with ``status`` on attempt ``attempt`` is worth another try."""
        return idempotent and status in RETRY_STATUSES and attempt < self.max_retries

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before the next attempt: ``Retry-After`` if sent, else backoff."""
        if response is not None:
            after = retry_after_seconds(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_retry_after)
        base: float = min(self.max_backoff, self.backoff * 2.0**attempt)
        return base * (0.5 + random.random() / 2)


# -- requests and answers ---------------------------------------------------------------


def spec_body(
    experiment_spec: ExperimentSpec | ExperimentSpecPayload | Mapping[str, Any],
) -> bytes:
    """The JSON body of a spec; a mapping, or a spec read from a server, is validated
    first (``SpecValidationError``)."""
    if isinstance(experiment_spec, ExperimentSpec):
        spec = experiment_spec
    elif isinstance(experiment_spec, (Mapping, ExperimentSpecPayload)):
        try:
            spec = ExperimentSpec.model_validate(experiment_spec)
        except ValidationError as exc:
            raise SpecValidationError(problems_of(exc)) from exc
    else:
        raise TypeError(
            "experiment_spec must be an ExperimentSpec or a dict, got "
            f"{type(experiment_spec).__name__}"
        )
    return spec.to_json().encode("utf-8")


def check_id(experiment_id: str) -> str:
    """The id, quoted for a URL path; an empty or non-string id is refused."""
    if not isinstance(experiment_id, str) or not experiment_id.strip():
        raise ValueError(
            f"experiment id must be a non-empty string like 'experiment-1647192232698-0001', "
            f"got {experiment_id!r}"
        )
    from urllib.parse import quote

    return quote(experiment_id, safe="")


def status_param(status: str | ExperimentStatus) -> ExperimentStatus:
    """A status name matched case-insensitively; a ``ValueError`` lists the valid ones."""
    if isinstance(status, ExperimentStatus):
        return status
    if not isinstance(status, str):
        raise TypeError(f"status must be a string like 'Running', got {status!r}")
    return parse_status(status)


def extensions_of(envelope: Envelope[Any]) -> frozenset[str]:
    """The extensions a server announces in the ping envelope's attributes."""
    attributes = envelope.attributes or {}
    names = attributes.get("extensions")
    if isinstance(names, list):
        return frozenset(str(name) for name in names)
    return frozenset()


def _pod_role(name: str) -> tuple[str, int]:
    match = _POD_ROLE.search(name)
    if match is None:
        return "", -1
    return match.group(1).lower(), int(match.group(2))


def master_only(log: ExperimentLog) -> ExperimentLog:
    """The log with only the master role's pod: Master, else Chief, else Ps, else worker 0.

    The role comes from the pod name's ``-<role>-<index>`` suffix; when no pod has one of
    those roles, the first pod is kept.
    """
    pods = log.pods
    if len(pods) <= 1:
        return log
    ranked = [(_pod_role(pod.pod_name), position, pod) for position, pod in enumerate(pods)]
    chosen = None
    for role in ("master", "chief", "ps"):
        candidates = [(index, position, pod) for (r, index), position, pod in ranked if r == role]
        if candidates:
            chosen = min(candidates, key=lambda item: (item[0], item[1]))[2]
            break
    if chosen is None:
        workers = [pod for (r, index), _, pod in ranked if r == "worker" and index == 0]
        chosen = workers[0] if workers else pods[0]
    return log.model_copy(update={"log_content": [chosen]})


def print_log(log: ExperimentLog, stream: IO[str]) -> None:
    """Print every pod's log under a ``The logs of Pod <name>:`` header, as the seed does."""
    for pod in log.pods:
        stream.write(f"The logs of Pod {pod.pod_name}:\n")
        for line in pod.lines:
            stream.write(line + "\n")
    stream.flush()


class LinePrinter:
    """Prints followed lines, with a ``The logs of Pod <name>:`` header whenever the pod
    changes from the previous line's pod."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last_pod: str | None = None

    def write(self, pod: str, line: str) -> None:
        """Print one new line of ``pod``."""
        if pod != self.last_pod:
            self.stream.write(f"The logs of Pod {pod}:\n")
            self.last_pod = pod
        self.stream.write(line + "\n")
        self.stream.flush()


@dataclass
class LogTracker:
    """What a follower of one experiment's logs has seen: how many lines per pod, the
    status, and whether the experiment vanished (a 404 after it was seen).

    Lines that were yielded are not kept (following a large log stays flat in memory),
    except with ``keep_lines``, which :meth:`as_log` needs when the experiment vanishes.
    """

    experiment_id: str
    keep_lines: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)
    status: str = ""
    seen: bool = False
    vanished: bool = False
    cursor: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the last status seen is Succeeded, Failed or Deleted (or it vanished)."""
        return self.vanished or self.status.lower() in TERMINAL_NAMES

    def _remember(self, pod: str, lines: list[str], restart: bool) -> None:
        if restart:
            self.counts[pod] = len(lines)
        else:
            self.counts[pod] = self.counts.get(pod, 0) + len(lines)
        if self.keep_lines:
            if restart:
                self.kept[pod] = list(lines)
            else:
                self.kept.setdefault(pod, []).extend(lines)

    def take_log(self, log: ExperimentLog) -> list[tuple[str, str]]:
        """The lines of a whole-log answer that were not shown yet, remembered as shown.

        A pod whose log got shorter was restarted: its log is shown again from the start.
        """
        new: list[tuple[str, str]] = []
        for pod in log.pods:
            lines = pod.lines
            name = pod.pod_name
            shown = self.counts.get(name)
            if shown is None or len(lines) < shown:
                fresh = lines
                self._remember(name, fresh, restart=True)
            else:
                fresh = lines[shown:]
                self._remember(name, fresh, restart=False)
            new.extend((name, line) for line in fresh)
        return new

    def take_page(self, page: LogStreamPage) -> list[tuple[str, str]]:
        """The lines of a log-stream page (all new), counted; status and cursor remembered."""
        self.seen = True
        if page.status:
            self.status = page.status
        if page.cursor is not None:
            self.cursor = page.cursor
        new: list[tuple[str, str]] = []
        for pod in page.pods:
            self._remember(pod.pod_name, pod.lines, restart=False)
            new.extend((pod.pod_name, line) for line in pod.lines)
        return new

    def as_log(self) -> ExperimentLog:
        """Every line seen (with ``keep_lines``; else the pods only), as an ExperimentLog."""
        return ExperimentLog.model_validate(
            {
                "experimentId": self.experiment_id,
                "logContent": [
                    {"podName": name, "podLog": list(self.kept.get(name, ()))}
                    for name in self.counts
                ],
            }
        )

    def stream_params(self, wait: float) -> dict[str, str]:
        """Query parameters of the next log-stream call."""
        params = {"wait": f"{wait:.3f}", "limit": str(LOG_STREAM_LIMIT)}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        return params

    def next_wait(
        self, polling_interval: float, deadline: float | None, now: float, timeout: float | None
    ) -> float:
        """Seconds to wait (or long-poll) before the next look; past the deadline, raise
        :class:`WaitTimeoutError`."""
        if deadline is None:
            return polling_interval
        remaining = deadline - now
        if remaining <= 0:
            raise WaitTimeoutError(self.experiment_id, timeout or 0.0, self.status)
        return min(polling_interval, remaining)


def long_poll_timeout(base: httpx.Timeout, wait: float) -> httpx.Timeout:
    """The client's timeouts, with the read timeout extended by a long poll's wait."""
    read = None if base.read is None else base.read + wait
    return httpx.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)


def check_interval(polling_interval: float, timeout: float | None) -> None:
    """Refuse a polling interval or timeout that cannot work, saying what would."""
    if isinstance(polling_interval, bool) or not isinstance(polling_interval, (int, float)):
        raise TypeError(f"polling_interval must be a number of seconds, got {polling_interval!r}")
    if polling_interval < 0:
        raise ValueError(f"polling_interval must be 0 or more seconds, got {polling_interval}")
    if timeout is not None and (isinstance(timeout, bool) or timeout < 0):
        raise ValueError(f"timeout must be None or 0 or more seconds, got {timeout!r}")


# -- the shared half of both clients --------------------------------------------------------


def make_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    """An ``httpx.Timeout`` from a number of seconds (every phase), a Timeout, or None;
    :data:`DEFAULT_TIMEOUT` connects within 5 s and waits 60 s for the rest."""
    if timeout is DEFAULT_TIMEOUT:
        return httpx.Timeout(60.0, connect=5.0)
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(timeout)


_PROXY_VARIABLES: Final = ("http_proxy", "all_proxy")


def needs_tls_context(host: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a client of ``host`` may ever speak TLS, and so must verify certificates.

    Not for a plain ``http://`` host, unless a proxy for it is itself reached over
    ``https://``: httpx follows no redirects by default, so nothing else can lead to TLS.
    Building the verifying context loads the CA bundle (tens of milliseconds), which a
    client of a local ``http://`` server does not need.
    """
    if not host.lower().startswith("http://"):
        return True
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.lower() in _PROXY_VARIABLES and value.strip().lower().startswith("https://"):
            return True
    return False


class ClientBase:
    """Configuration and URLs that both clients share; no I/O here."""

    def __init__(
        self,
        host: str | None,
        *,
        token: str | None,
        username: str | None,
        password: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        headers: Mapping[str, str] | None,
        retry_backoff: float,
    ) -> None:
        self.host: str = resolve_host(host)
        """The server's base URL, like ``http://localhost:8080``."""
        self._credentials: Credentials = resolve_credentials(token, username, password)
        self._api = self.host + API_PATH
        self._ping_url = self._api + "/ping"
        self._logs_url = self._api + "/logs"
        self._token_url = self.host + TOKEN_PATH
        self._timeout = make_timeout(timeout)
        self._verify = needs_tls_context(self.host)
        self._retry = RetryPolicy(max_retries=max_retries, backoff=retry_backoff)
        self._extensions: frozenset[str] | None = None
        self._need_login = self._credentials.can_login and not self._credentials.token
        default_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self._credentials.token:
            default_headers["Authorization"] = f"Bearer {self._credentials.token}"
        default_headers.update(headers or {})
        self._headers = default_headers
        self._clock = time.monotonic

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    def _login_body(self) -> bytes:
        creds = self._credentials
        envelope = {"username": creds.username, "password": creds.password}
        return json.dumps(envelope, ensure_ascii=False).encode("utf-8")

    def _login_error(self, error: AuthenticationError) -> AuthenticationError:
        return AuthenticationError(
            error.status_code,
            f"the server refused username {self._credentials.username!r} and its password: "
            f"{error.message}",
            error.body,
            request=error.request,
        )

    def _log_retry(self, method: str, url: str, why: str, delay: float, attempt: int) -> None:
        import logging

        logging.getLogger(__name__).info(
            "retrying %s %s in %.2f s after %s (retry %d of %d)",
            method,
            url,
            delay,
            why,
            attempt + 1,
            self._retry.max_retries,
        )


JSON_HEADERS: Final = {"Content-Type": "application/json"}
"""Headers of a request with a JSON body."""

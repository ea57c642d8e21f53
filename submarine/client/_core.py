"""The core both clients share: configuration, and every operation as calls.

:class:`ClientCore` holds what a client was configured with and builds, for each method
of the API, the :class:`~submarine.client._steps.Call` to send and how its answer is
read. The blocking and the asyncio client only send those calls (with retries) and
sleep, so they cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import IO, Any, Final
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from submarine._version import __version__
from submarine.client._auth import TOKEN_PATH, SubmarineAuth
from submarine.client._deadline import Budget, capped, longest_wait, resolve_deadline
from submarine.client._decode import (
    decode,
    decode_envelope,
    decode_experiments,
    transport_error,
)
from submarine.client._discovery import discover
from submarine.client._follow import Follower
from submarine.client._limits import ACCEPT_ENCODING, BUDGET, AnswerGuard, check_max_answer_bytes
from submarine.client._retry import RetryPolicy
from submarine.client._steps import JSON_HEADERS, Call, SpecInput
from submarine.client._terminal import printable
from submarine.client.config import (
    Timeout,
    is_loopback,
    redact_url,
    resolve_credentials,
    resolve_host,
)
from submarine.client.errors import (
    APIStatusError,
    InvalidResponseError,
    ServerError,
    SpecValidationError,
)
from submarine.models import (
    Experiment,
    ExperimentList,
    ExperimentLog,
    ExperimentSpec,
    ExperimentSpecPayload,
    ExperimentStatus,
    Metric,
    Param,
    parse_status,
    problems_of,
)

__all__ = ["API_PATH", "USER_AGENT", "ClientCore", "master_only", "needs_tls_context"]

logger = logging.getLogger(__name__)

API_PATH: Final = "/api/v1/experiment"
"""The experiment service, below the host."""
USER_AGENT: Final = f"submarine-sdk/{__version__}"
"""Sent with every request."""

_POD_ROLE = re.compile(r"-([A-Za-z]+)-([0-9]+)$")
_PROXY_VARIABLES: Final = ("http_proxy", "all_proxy")


def needs_tls_context(host: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a client of ``host`` may ever speak TLS, and so must verify certificates.

    Not for a plain ``http://`` host, unless a proxy for it is itself reached over
    ``https://`` (never for a loopback host, which no proxy is used for): httpx follows no
    redirects by default, so nothing else can lead to TLS.
    Building the verifying context loads the CA bundle (tens of milliseconds), which a
    client of a local ``http://`` server does not need.
    """
    if not host.lower().startswith("http://"):
        return True
    if is_loopback(host):
        return False
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.lower() in _PROXY_VARIABLES and value.strip().lower().startswith("https://"):
            return True
    return False


# -- what goes out ---------------------------------------------------------------------------


def spec_body(experiment_spec: SpecInput) -> bytes:
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
            "experiment_spec must be an ExperimentSpec, a spec read from a server or a dict, got "
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
    return quote(experiment_id, safe="")


def _plain_id(experiment_id: str) -> str:
    """The id as given, after the checks of :func:`check_id`."""
    check_id(experiment_id)
    return experiment_id


def status_param(status: str | ExperimentStatus) -> ExperimentStatus:
    """A status name matched case-insensitively; a ``ValueError`` lists the valid ones."""
    if isinstance(status, ExperimentStatus):
        return status
    if not isinstance(status, str):
        raise TypeError(f"status must be a string like 'Running', got {status!r}")
    return parse_status(status)


# -- what comes back -------------------------------------------------------------------------


def extensions_of(attributes: Mapping[str, Any] | None) -> frozenset[str]:
    """The extensions a server announces in the ping envelope's attributes."""
    names = (attributes or {}).get("extensions")
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
        stream.write(f"The logs of Pod {printable(pod.pod_name)}:\n")
        for line in pod.lines:
            stream.write(printable(line) + "\n")
    stream.flush()


def _shown_log(
    only_master: bool, stream: IO[str] | None, response: httpx.Response
) -> ExperimentLog:
    log = decode(ExperimentLog, response)
    if only_master:
        log = master_only(log)
    print_log(log, sys.stdout if stream is None else stream)  # stdout at the time of the call
    return log


# -- the core -----------------------------------------------------------------------------------


class ClientCore:
    """Configuration and every operation of a client, with no I/O.

    The parameters are those of the clients (see :class:`ExperimentClient`).
    """

    def __init__(
        self,
        host: str | None,
        *,
        token: str | None,
        username: str | None,
        password: str | None,
        timeout: Timeout | float | httpx.Timeout | None,
        max_retries: int,
        headers: Mapping[str, str] | None,
        retry_backoff: float,
        deadline: float | str | None,
        max_answer_bytes: int | None,
    ) -> None:
        self.host: str = resolve_host(host)
        self.credentials = resolve_credentials(token, username, password)
        if self.credentials.token is None and not self.credentials.can_login:
            # A local server of this user may have left its token for this address.
            found = discover(self.host)
            if found is not None:
                self.host = found.url
                self.credentials = replace(self.credentials, token=found.token)
        self.shown_host: str = redact_url(self.host)
        """The host to show: credentials in it replaced by ``***``."""
        self.api = self.host + API_PATH
        self.timeout = Timeout.of(timeout)
        self._longest_wait = longest_wait(self.timeout)
        self.deadline = resolve_deadline(deadline, self.timeout)
        """A call's deadline in seconds (a long poll's wait added); None for none."""
        self.guard = AnswerGuard(check_max_answer_bytes(max_answer_bytes))
        self.retry = RetryPolicy(max_retries=max_retries, backoff=retry_backoff)
        self.headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            **(headers or {}),
        }
        self.auth = SubmarineAuth(self.credentials, self.host + TOKEN_PATH, self.headers)
        self.verify = needs_tls_context(self.host)
        self.extensions: frozenset[str] | None = None
        """What the server announced at ping; None until asked."""

    def http_options(self, *, asynchronous: bool = False) -> dict[str, Any]:
        """Keyword arguments of the ``httpx.Client`` (or, ``asynchronous``, the
        ``httpx.AsyncClient``) to make.

        Every answer is read through the :class:`AnswerGuard` (the size cap, the deadline).

        A loopback host is reached directly whatever ``HTTP_PROXY``, ``HTTPS_PROXY`` or
        ``ALL_PROXY`` say: a proxy would see the token of a local server, and could not
        reach this machine's loopback anyway. The other settings of the environment
        (``SSL_CERT_FILE``, ``NO_PROXY``, proxies for other hosts) still apply.
        """
        options: dict[str, Any] = {
            "headers": self.headers,
            "timeout": httpx.Timeout(**self.timeout.as_dict()),
            "auth": self.auth,
            "verify": self.verify,
            "event_hooks": {
                "response": [self.guard.async_hook if asynchronous else self.guard.sync_hook]
            },
        }
        if is_loopback(self.host):
            # A mount of None is the client's own transport, which has no proxy.
            netloc = httpx.URL(self.host).netloc.decode("ascii")
            options["mounts"] = {f"all://{netloc}": None}
        return options

    def budget(self, call: Call[Any]) -> Budget:
        """The deadline of a call starting now: the client's, plus a long poll's wait."""
        seconds = None if self.deadline is None else self.deadline + call.long_poll
        return Budget(seconds)

    def request_options(self, call: Call[Any], budget: Budget) -> dict[str, Any]:
        """The keyword arguments of ``httpx.Client.request`` for an attempt of a call.

        Its timeouts are no longer than what is left of ``budget``; past the deadline,
        raise ``DeadlineExceededError``.
        """
        extensions: dict[str, Any] = {BUDGET: budget}
        left = budget.left()
        if left is not None and left <= 0:
            raise budget.error(call.method, call.url)
        phases = self.timeout if call.timeout is None else call.timeout
        longest = self._longest_wait if call.timeout is None else longest_wait(call.timeout)
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if left is not None and left < longest:
            timeout = capped(phases, left)
        elif call.timeout is not None:
            timeout = httpx.Timeout(**call.timeout.as_dict())
        return {
            "method": call.method,
            "url": call.url,
            "params": call.params,
            "content": call.content,
            "headers": JSON_HEADERS if call.content is not None else None,
            "timeout": timeout,
            "extensions": extensions,
        }

    REQUEST_ERROR: Final = httpx.RequestError
    """What sending a request raises when no answer came (the retry policy decides)."""

    # -- retries -------------------------------------------------------------------------

    def pause_after_error(
        self, call: Call[Any], attempt: int, exc: httpx.RequestError, budget: Budget
    ) -> float:
        """Seconds to wait before sending ``call`` again after a transport error; raises
        ours (``from`` the error) when it is not sent again: ``DeadlineExceededError``
        when the error came of the deadline."""
        if budget.timed_out(exc):
            raise budget.error(call.method, call.url) from exc
        pause = self.retry.pause(attempt, call.idempotent, error=exc)
        if pause is None or budget.expired(pause):
            raise transport_error(exc, call.method, redact_url(call.url)) from exc
        self._log_retry(call, type(exc).__name__, pause, attempt)
        return pause

    def pause_after_answer(
        self, call: Call[Any], attempt: int, response: httpx.Response, budget: Budget
    ) -> float | None:
        """Seconds to wait before sending ``call`` again after ``response``, or None when
        the answer is final (as it is when another try could not start before the
        deadline)."""
        pause = self.retry.pause(attempt, call.idempotent, response=response)
        if pause is None or budget.expired(pause):
            return None
        self._log_retry(call, f"HTTP {response.status_code}", pause, attempt)
        return pause

    def _log_retry(self, call: Call[Any], why: str, pause: float, attempt: int) -> None:
        logger.info(
            "retrying %s %s in %.2f s after %s (retry %d of %d)",
            call.method,
            redact_url(call.url),
            pause,
            why,
            attempt + 1,
            self.retry.max_retries,
        )

    # -- URLs -----------------------------------------------------------------------------

    def experiment_url(self, experiment_id: str) -> str:
        """The URL of one experiment."""
        return f"{self.api}/{check_id(experiment_id)}"

    def log_url(self, experiment_id: str) -> str:
        """The URL of one experiment's whole log."""
        return f"{self.api}/logs/{check_id(experiment_id)}"

    def stream_url(self, experiment_id: str) -> str:
        """The URL of one experiment's log-stream (the local server's extension)."""
        return f"{self.experiment_url(experiment_id)}/log-stream"

    # -- the experiment API, as calls ------------------------------------------------------

    def create_call(self, spec: SpecInput) -> Call[Experiment]:
        """Create an experiment (never retried once it may have arrived)."""
        body = spec_body(spec)
        read = partial(decode, Experiment)
        return Call("POST", self.api, read, content=body, idempotent=False)

    def patch_call(self, id: str, spec: SpecInput) -> Call[Experiment]:
        """Replace an experiment's spec."""
        url = self.experiment_url(id)
        return Call("PATCH", url, partial(decode, Experiment), content=spec_body(spec))

    def get_call(self, id: str) -> Call[Experiment]:
        """Get one experiment."""
        return Call("GET", self.experiment_url(id), partial(decode, Experiment))

    def delete_call(self, id: str) -> Call[Experiment]:
        """Delete an experiment."""
        return Call("DELETE", self.experiment_url(id), partial(decode, Experiment))

    def list_call(self, status: str | ExperimentStatus | None) -> Call[ExperimentList]:
        """List experiments, all or of one status (filtered here too)."""
        if status is None:
            return Call("GET", self.api, decode_experiments)
        wanted = status_param(status).value

        def read(response: httpx.Response) -> ExperimentList:
            return decode_experiments(response).with_status(wanted)

        return Call("GET", self.api, read, params={"status": wanted})

    def log_call(self, id: str, only_master: bool, stream: IO[str] | None) -> Call[ExperimentLog]:
        """Get an experiment's log, keep the master pod if asked, and print it."""
        return Call("GET", self.log_url(id), partial(_shown_log, only_master, stream))

    def list_log_call(self, status: str | ExperimentStatus) -> Call[list[ExperimentLog]]:
        """The pods of every experiment with a status."""
        wanted = status_param(status).value
        read: Callable[[httpx.Response], list[ExperimentLog]] = partial(decode, list[ExperimentLog])
        return Call("GET", f"{self.api}/logs", read, params={"status": wanted})

    def metrics_call(self, id: str) -> Call[list[Metric]]:
        """An experiment's metrics (the workbench's ``POST /api/metric/selective``)."""
        body = json.dumps({"id": _plain_id(id)}).encode("utf-8")
        read: Callable[[httpx.Response], list[Metric]] = partial(decode, list[Metric])
        return Call("POST", f"{self.host}/api/metric/selective", read, content=body)

    def params_call(self, id: str) -> Call[list[Param]]:
        """An experiment's params (the workbench's ``POST /api/param/selective``)."""
        body = json.dumps({"id": _plain_id(id)}).encode("utf-8")
        read: Callable[[httpx.Response], list[Param]] = partial(decode, list[Param])
        return Call("POST", f"{self.host}/api/param/selective", read, content=body)

    def ping_call(self) -> Call[bool]:
        """Ask whether a server answers (False for a server error); remember its
        extensions."""

        def read(response: httpx.Response) -> bool:
            try:
                envelope = decode_envelope(str, response)
            except ServerError:
                return False
            self.extensions = extensions_of(envelope.attributes)
            return True

        return Call("GET", f"{self.api}/ping", read)

    def extensions_call(self) -> Call[frozenset[str]]:
        """Ask the server which extensions it offers (none, if it cannot say)."""

        def read(response: httpx.Response) -> frozenset[str]:
            try:
                envelope = decode_envelope(str, response)
            except (APIStatusError, InvalidResponseError):
                self.extensions = frozenset()
            else:
                self.extensions = extensions_of(envelope.attributes)
            return self.extensions

        return Call("GET", f"{self.api}/ping", read)

    def follower(
        self,
        id: str,
        *,
        follow: bool,
        polling_interval: float,
        timeout: float | None,
        clock: Callable[[], float],
        waiting: bool = False,
    ) -> Follower:
        """A follower of an experiment's logs (see :class:`Follower`)."""
        check_id(id)
        return Follower(
            self,
            id,
            follow=follow,
            polling_interval=polling_interval,
            timeout=timeout,
            clock=clock,
            waiting=waiting,
        )

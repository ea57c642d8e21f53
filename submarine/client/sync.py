"""ExperimentClient: the blocking client of a Submarine experiment service."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from typing_extensions import Self

from submarine.client._base import (
    DEFAULT_TIMEOUT,
    EXPERIMENT,
    JSON_HEADERS,
    LOG,
    LOG_STREAM,
    LOGS,
    PAGE,
    TEXT,
    ClientBase,
    LinePrinter,
    LogTracker,
    check_id,
    check_interval,
    decode,
    decode_envelope,
    decode_experiments,
    extensions_of,
    long_poll_timeout,
    master_only,
    print_log,
    spec_body,
    status_param,
    transport_error,
)
from submarine.client.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ExperimentFailedError,
    InvalidResponseError,
    NotFoundError,
    ServerError,
)
from submarine.models import (
    Experiment,
    ExperimentList,
    ExperimentLog,
    ExperimentSpec,
    ExperimentStatus,
)

if TYPE_CHECKING:
    import httpx
else:
    from submarine.client._base import httpx  # imported when a client is created

__all__ = ["ExperimentClient"]


class ExperimentClient(ClientBase):
    """Client of a Submarine server that creates and manages experiments and their logs.

    One connection pool per client; use it as a context manager, or call ``close()``.

    >>> from submarine import ExperimentClient
    >>> with ExperimentClient("http://localhost:8080") as client:  # doctest: +SKIP
    ...     experiment = client.create_experiment(spec)
    ...     log = client.wait_for_finish(experiment.experiment_id, polling_interval=2)

    :param host: base URL of the server; else ``SUBMARINE_HOST``, else
        ``SUBMARINE_SERVER_DNS_NAME`` + ``SUBMARINE_SERVER_PORT``, else
        ``http://localhost:8080``. A missing scheme, trailing ``/`` and ``/api`` are tolerated.
    :param token: sent as ``Authorization: Bearer <token>``; else ``SUBMARINE_TOKEN``.
    :param username: with ``password``, exchanged for a token at ``POST /api/auth/token`` on
        first use and once more after a 401; else ``SUBMARINE_USERNAME``.
    :param password: the password of ``username``; else ``SUBMARINE_PASSWORD``.
    :param timeout: seconds for every phase, or an ``httpx.Timeout``; by default connect
        within 5 s and read within 60 s. ``None`` waits for ever.
    :param max_retries: how many times a request is retried after a connection error or a
        502/503/504 (exponential backoff with jitter, honouring ``Retry-After``); creating an
        experiment is retried only when the connection was never made.
    :param headers: extra headers sent with every request.
    :param transport: an ``httpx.BaseTransport`` to send requests through (tests use
        ``httpx.MockTransport``).
    :param retry_backoff: base delay of the retry backoff, in seconds.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        retry_backoff: float = 0.5,
    ) -> None:
        super().__init__(
            host,
            token=token,
            username=username,
            password=password,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            retry_backoff=retry_backoff,
        )
        self._sleep: Callable[[float], None] = time.sleep
        self._http = httpx.Client(
            headers=self._headers, timeout=self._timeout, transport=transport, verify=self._verify
        )

    # -- life cycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- sending ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        timeout: httpx.Timeout | None = None,
        login: bool = False,
    ) -> httpx.Response:
        """Send one request with retries, logging in first and once more after a 401."""
        attempt = 0
        fresh_token = False
        relogged = False
        headers = JSON_HEADERS if content is not None else None
        while True:
            if self._need_login and not login:
                self._login()
                fresh_token = True
            try:
                response = self._http.request(
                    method,
                    url,
                    content=content,
                    params=params,
                    headers=headers,
                    timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                )
            except httpx.RequestError as exc:
                if not self._retry.retry_error(attempt, exc, idempotent):
                    raise transport_error(exc, method, url) from exc
                delay = self._retry.delay(attempt)
                self._log_retry(method, url, type(exc).__name__, delay, attempt)
                self._sleep(delay)
                attempt += 1
                continue
            status = response.status_code
            if status == 401 and not login and self._credentials.can_login:
                if not (fresh_token or relogged):
                    relogged = True
                    self._need_login = True
                    continue
            elif self._retry.retry_status(attempt, status, idempotent):
                delay = self._retry.delay(attempt, response)
                self._log_retry(method, url, f"HTTP {status}", delay, attempt)
                self._sleep(delay)
                attempt += 1
                continue
            return response

    def _login(self) -> None:
        """Exchange the username and password for a token, used from then on."""
        self._http.headers.pop("Authorization", None)
        response = self._send("POST", self._token_url, content=self._login_body(), login=True)
        try:
            token = decode(TEXT, response)
        except AuthenticationError as exc:
            raise self._login_error(exc) from exc
        self._http.headers["Authorization"] = f"Bearer {token}"
        self._need_login = False

    def _has_log_stream(self) -> bool:
        """Whether the server offers the log-stream extension (asked once, by ping)."""
        if self._extensions is None:
            try:
                envelope = decode_envelope(TEXT, self._send("GET", self._ping_url))
            except (APIStatusError, InvalidResponseError):
                self._extensions = frozenset()
            else:
                self._extensions = extensions_of(envelope)
        return LOG_STREAM in self._extensions

    # -- the experiment API -----------------------------------------------------------------

    def create_experiment(self, experiment_spec: ExperimentSpec | Mapping[str, Any]) -> Experiment:
        """Create an experiment; the server answers with status ``Accepted``.

        :param experiment_spec: an :class:`ExperimentSpec`, or a dict validated as one
            (``SpecValidationError``, listing every problem, before anything is sent).
        :returns: the experiment, with its ``experiment_id``.
        """
        body = spec_body(experiment_spec)
        return decode(EXPERIMENT, self._send("POST", self._api, content=body, idempotent=False))

    def patch_experiment(
        self, id: str, experiment_spec: ExperimentSpec | Mapping[str, Any]
    ) -> Experiment:
        """Replace the spec of an experiment.

        :param id: the experiment id.
        :param experiment_spec: the whole new spec (validated like ``create_experiment``'s).
        :returns: the experiment with its new spec.
        """
        url = f"{self._api}/{check_id(id)}"
        body = spec_body(experiment_spec)
        return decode(EXPERIMENT, self._send("PATCH", url, content=body))

    def get_experiment(self, id: str) -> Experiment:
        """The experiment with this id (``NotFoundError`` when there is none).

        :param id: the experiment id.
        """
        return decode(EXPERIMENT, self._send("GET", f"{self._api}/{check_id(id)}"))

    def list_experiments(self, status: str | ExperimentStatus | None = None) -> ExperimentList:
        """Every experiment, or those with one status.

        The answer is checked at once (an envelope of experiments, each an object with a
        string ``experimentId``); each experiment is validated the first time it is read,
        so listing thousands costs little more than parsing the JSON.

        :param status: Accepted, Created, Running, Succeeded, Failed or Deleted (any case);
            filtered here too, since the real server ignores it. An unknown name is a
            ``ValueError`` listing the valid ones.
        :returns: an :class:`~submarine.models.ExperimentList`, a sequence of
            :class:`~submarine.models.Experiment` (``list(...)`` of it is a plain list).
        """
        if status is None:
            return decode_experiments(self._send("GET", self._api))
        wanted = status_param(status)
        found = decode_experiments(self._send("GET", self._api, params={"status": wanted.value}))
        return found.with_status(wanted.value)

    def delete_experiment(self, id: str) -> Experiment:
        """Delete an experiment, stopping it if it runs; answers with status ``Deleted``.

        :param id: the experiment id.
        """
        return decode(EXPERIMENT, self._send("DELETE", f"{self._api}/{check_id(id)}"))

    def get_log(
        self, id: str, onlyMaster: bool = False, *, stream: IO[str] | None = None
    ) -> ExperimentLog:
        """Print the logs of an experiment's pods, each under ``The logs of Pod <name>:``.

        :param id: the experiment id.
        :param onlyMaster: keep only the master role's pod: Master, else Chief, else Ps,
            else worker 0.
        :param stream: where to print (default: ``sys.stdout`` at the time of the call).
        :returns: the logs, filtered the same way.
        """
        log = decode(LOG, self._send("GET", f"{self._logs_url}/{check_id(id)}"))
        if onlyMaster:
            log = master_only(log)
        print_log(log, sys.stdout if stream is None else stream)
        return log

    def list_log(self, status: str | ExperimentStatus) -> list[ExperimentLog]:
        """The pods of every experiment with a status (their ``podLog`` lists are empty).

        :param status: Accepted, Created, Running, Succeeded, Failed or Deleted (any case).
        """
        wanted = status_param(status)
        return decode(LOGS, self._send("GET", self._logs_url, params={"status": wanted.value}))

    def ping(self) -> bool:
        """Whether a Submarine server answers at ``host``.

        :returns: True when it answers; False when it cannot be reached (after retries) or
            answers with a server error. Other errors (a 401, a page that is not
            Submarine's) are raised.
        """
        try:
            envelope = decode_envelope(TEXT, self._send("GET", self._ping_url))
        except (APIConnectionError, ServerError):
            return False
        self._extensions = extensions_of(envelope)
        return True

    # -- following logs ------------------------------------------------------------------

    def stream_logs(
        self, id: str, follow: bool = True, *, polling_interval: float = 2.0
    ) -> Iterator[tuple[str, str]]:
        """Yield ``(pod_name, line)`` for each log line of an experiment, as lines appear.

        :param id: the experiment id.
        :param follow: keep going until the experiment is Succeeded, Failed or Deleted (or
            vanishes); with False, yield what is there now and stop.
        :param polling_interval: seconds between two looks at a server without the
            log-stream extension; with it, the longest a request waits for new output.
        """
        check_id(id)
        check_interval(polling_interval, None)
        yield from self._follow(LogTracker(id), follow, polling_interval, None, None)

    def wait_for_finish(
        self,
        id: str,
        polling_interval: float = 10,
        timeout: float | None = None,
        *,
        raise_on_failure: bool = False,
        stream: IO[str] | None = None,
    ) -> ExperimentLog:
        """Wait until the experiment is Succeeded, Failed or Deleted, printing its logs.

        Each new line is printed once, under a ``The logs of Pod <name>:`` header whenever
        the pod changes. The experiment vanishing (a 404 after it was seen) also ends the
        wait.

        :param id: the experiment id.
        :param polling_interval: seconds between two looks at the server (with the local
            server's log-stream extension, the longest one request waits: it answers as
            soon as there is output or the experiment ends).
        :param timeout: give up after this many seconds with ``WaitTimeoutError``.
        :param raise_on_failure: raise ``ExperimentFailedError`` when it ends Failed,
            rather than returning.
        :param stream: where to print (default: ``sys.stdout`` at the time of the call).
        :returns: the experiment's final logs.
        """
        check_id(id)
        check_interval(polling_interval, timeout)
        printer = LinePrinter(sys.stdout if stream is None else stream)
        tracker = LogTracker(id, keep_lines=True)
        deadline = None if timeout is None else self._clock() + timeout
        for pod, line in self._follow(tracker, True, polling_interval, deadline, timeout):
            printer.write(pod, line)
        log = tracker.as_log()
        if not tracker.vanished:
            with contextlib.suppress(NotFoundError):
                log = decode(LOG, self._send("GET", f"{self._logs_url}/{check_id(id)}"))
        if raise_on_failure and tracker.status.lower() == "failed":
            raise ExperimentFailedError(id, tracker.status, log)
        return log

    def _follow(
        self,
        tracker: LogTracker,
        follow: bool,
        polling_interval: float,
        deadline: float | None,
        timeout: float | None,
    ) -> Iterator[tuple[str, str]]:
        if self._has_log_stream():
            yield from self._follow_stream(tracker, follow, polling_interval, deadline, timeout)
        else:
            yield from self._follow_poll(tracker, follow, polling_interval, deadline, timeout)

    def _follow_stream(
        self,
        tracker: LogTracker,
        follow: bool,
        polling_interval: float,
        deadline: float | None,
        timeout: float | None,
    ) -> Iterator[tuple[str, str]]:
        """Follow with the log-stream extension: a cursor and a long poll."""
        url = f"{self._api}/{check_id(tracker.experiment_id)}/log-stream"
        wait = 0.0
        while True:
            params = tracker.stream_params(wait)
            try:
                # No name keeps the answer alive while its lines are yielded: an httpx
                # response is cyclic garbage, freed only by a collection that finds it
                # unreachable, and a large page must not survive into an old generation.
                page = decode(
                    PAGE,
                    self._send(
                        "GET", url, params=params, timeout=long_poll_timeout(self._timeout, wait)
                    ),
                )
            except NotFoundError:
                if tracker.seen:
                    tracker.vanished = True
                    return
                raise
            yield from tracker.take_page(page)
            if page.more:
                wait = 0.0
                continue
            if not follow or tracker.is_terminal:
                return
            wait = tracker.next_wait(polling_interval, deadline, self._clock(), timeout)

    def _follow_poll(
        self,
        tracker: LogTracker,
        follow: bool,
        polling_interval: float,
        deadline: float | None,
        timeout: float | None,
    ) -> Iterator[tuple[str, str]]:
        """Follow a server without the extension: status, then whole logs, then sleep."""
        log_url = f"{self._logs_url}/{check_id(tracker.experiment_id)}"
        while True:
            try:
                experiment = self.get_experiment(tracker.experiment_id)
                tracker.status = experiment.status_name
                tracker.seen = True
                log = decode(LOG, self._send("GET", log_url))
            except NotFoundError:
                if tracker.seen:
                    tracker.vanished = True
                    return
                raise
            yield from tracker.take_log(log)
            if not follow or tracker.is_terminal:
                return
            self._sleep(tracker.next_wait(polling_interval, deadline, self._clock(), timeout))

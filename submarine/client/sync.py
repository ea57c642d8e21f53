"""ExperimentClient: the blocking client of a Submarine experiment service."""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

from typing_extensions import Self

from submarine.client._artifacts import ArtifactMethods
from submarine.client._compat import ExperimentCallsInThreads
from submarine.client._steps import Call, Sleep, SpecInput, Steps
from submarine.client._stream import LinePrinter, LogStream
from submarine.client._templates import TemplateMethods
from submarine.client.config import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_TIMEOUT, Timeout
from submarine.client.errors import APIConnectionError, SubmarineError
from submarine.models import (
    Experiment,
    ExperimentList,
    ExperimentLog,
    ExperimentStatus,
    Metric,
    Param,
)

if TYPE_CHECKING:
    import httpx

    from submarine.client._follow import Follower
    from submarine.client._records import RecordFlow

__all__ = ["ExperimentClient"]

T = TypeVar("T")


class ExperimentClient(TemplateMethods, ArtifactMethods, ExperimentCallsInThreads):
    """Client of a Submarine server that creates and manages experiments and their logs,
    the experiment templates they can be submitted from (``create_template``,
    ``submit_template``...) and the models they saved (``list_artifacts``...).

    One connection pool per client; use it as a context manager, or call ``close()``.
    0.8.0's ``get_experiment_async``, ``list_experiments_async`` and
    ``delete_experiment_async`` run the plain calls on a thread pool of the client's.

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
    :param timeout: a :class:`~submarine.client.Timeout` (by default: connect within 5 s,
        read, write and wait for a pooled connection within 60 s); a number of seconds for
        all four; ``None`` to wait for ever; or an ``httpx.Timeout``.
    :param deadline: the longest one call may take in all, in seconds: every attempt, the
        pauses between retries and the whole answer, however slowly it comes
        (``DeadlineExceededError``, an ``APITimeoutError``, once it passes). By default
        (``"auto"``) three read timeouts plus the connect timeout: 185 s for the default
        timeout, 20 s for ``timeout=5``, none for ``timeout=None``; ``None`` for none. A
        log-stream request may take its long poll's wait longer.
    :param max_answer_bytes: the most bytes one answer may have, decoded (default 256 MiB;
        ``None`` for no limit): past it, reading stops with ``ResponseTooLargeError``, so a
        client never holds more than this of one answer.
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
        timeout: Timeout | float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        deadline: float | Literal["auto"] | None = "auto",
        max_answer_bytes: int | None = DEFAULT_MAX_ANSWER_BYTES,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        retry_backoff: float = 0.5,
    ) -> None:
        # The client core and httpx are loaded with the first client rather than with
        # ``from submarine import ExperimentClient``: a script that only builds specs, or a
        # tool that imports the package to read its models, never pays for a transport.
        import httpx

        from submarine.client._core import ClientCore
        from submarine.client._network import cap_waits

        self._core = ClientCore(
            host,
            token=token,
            username=username,
            password=password,
            timeout=timeout,
            deadline=deadline,
            max_answer_bytes=max_answer_bytes,
            max_retries=max_retries,
            headers=headers,
            retry_backoff=retry_backoff,
        )
        self.host: str = self._core.shown_host
        """The server's base URL, like ``http://localhost:8080`` (a password or token in it
        shown as ``***``)."""
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic
        self._http = httpx.Client(transport=transport, **self._core.http_options())
        cap_waits(self._http)
        # Code written for 0.8.0's client never closes it: its connections close with it.
        weakref.finalize(self, self._http.close)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    # -- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._close_pool()
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

    def _send(self, call: Call[Any]) -> httpx.Response:
        """Send a call, again as long as the retry policy says so; the final answer, read
        whole within the call's deadline (no wait on a socket goes past it)."""
        from submarine.client._network import within  # loaded with the core

        core = self._core
        budget = core.budget(call)
        with within(budget):
            attempt = 0
            while True:
                try:
                    response = self._http.request(**core.request_options(call, budget))
                except core.REQUEST_ERROR as exc:
                    self._sleep(core.pause_after_error(call, attempt, exc, budget))
                else:
                    pause = core.pause_after_answer(call, attempt, response, budget)
                    if pause is None:
                        return response
                    self._sleep(pause)
                attempt += 1

    def _call(self, call: Call[T]) -> T:
        return call.read(self._send(call))

    def _follow(self, follower: Follower) -> Generator[tuple[str, str], None, None]:
        """Run a follower's steps; yield its new lines."""
        steps = Steps(follower.flow())
        try:
            while (step := steps.next()) is not None:
                if isinstance(step, Call):
                    try:
                        steps.reply(self._call(step))
                    except SubmarineError as exc:
                        steps.fail(exc)
                elif isinstance(step, Sleep):
                    self._sleep(step.seconds)
                else:
                    yield from step
        finally:
            steps.close()

    # -- the experiment API -----------------------------------------------------------------

    def create_experiment(self, experiment_spec: SpecInput) -> Experiment:
        """Create an experiment; the server answers with status ``Accepted``.

        :param experiment_spec: an :class:`ExperimentSpec`, or a dict or a spec read from a
            server (``experiment.spec``), validated as one
            (``SpecValidationError``, listing every problem, before anything is sent).
        :returns: the experiment, with its ``experiment_id``.
        """
        return self._call(self._core.create_call(experiment_spec))

    def patch_experiment(self, id: str, experiment_spec: SpecInput) -> Experiment:
        """Replace the spec of an experiment.

        :param id: the experiment id.
        :param experiment_spec: the whole new spec (validated like ``create_experiment``'s).
        :returns: the experiment with its new spec.
        """
        return self._call(self._core.patch_call(id, experiment_spec))

    def get_experiment(self, id: str) -> Experiment:
        """The experiment with this id (``NotFoundError`` when there is none).

        :param id: the experiment id.
        """
        return self._call(self._core.get_call(id))

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
        return self._call(self._core.list_call(status))

    def delete_experiment(self, id: str) -> Experiment:
        """Delete an experiment, stopping it if it runs; answers with status ``Deleted``.

        :param id: the experiment id.
        """
        return self._call(self._core.delete_call(id))

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
        return self._call(self._core.log_call(id, onlyMaster, stream))

    def list_log(self, status: str | ExperimentStatus) -> list[ExperimentLog]:
        """The pods of every experiment with a status (their ``podLog`` lists are empty).

        :param status: Accepted, Created, Running, Succeeded, Failed or Deleted (any case).
        """
        return self._call(self._core.list_log_call(status))

    def get_metrics(self, id: str) -> list[Metric]:
        """Every metric value the experiment's replicas recorded.

        :param id: the experiment id.
        :returns: :class:`~submarine.models.Metric` values (key, value, worker, step, time),
            in the order they came, grouped by key and worker within each page read.
        """
        return list(self.iter_metrics(id))

    def get_params(self, id: str) -> list[Param]:
        """Every param the experiment's replicas recorded.

        :param id: the experiment id.
        :returns: :class:`~submarine.models.Param` values (key, value, worker).
        """
        return list(self.iter_params(id))

    def iter_metrics(
        self, id: str, *, key: str | None = None, worker: str | None = None
    ) -> Iterator[Metric]:
        """The experiment's metric values as they are read, a page at a time from a local
        server (so a reader holds one page however many there are).

        >>> for metric in client.iter_metrics(experiment_id, key="loss"):  # doctest: +SKIP
        ...     print(metric.step, metric.value)

        :param id: the experiment id.
        :param key: only the metric of this key.
        :param worker: only what this worker recorded, like ``worker-0``.
        """
        from submarine.client._records import records_flow

        return self._walk(records_flow(self._core, "metric", id, key=key, worker=worker))

    def iter_params(
        self, id: str, *, key: str | None = None, worker: str | None = None
    ) -> Iterator[Param]:
        """The experiment's params as they are read, a page at a time from a local server.

        :param id: the experiment id.
        :param key: only the param of this key.
        :param worker: only what this worker recorded.
        """
        from submarine.client._records import records_flow

        return self._walk(records_flow(self._core, "param", id, key=key, worker=worker))

    def _walk(self, flow: RecordFlow) -> Generator[Any, None, None]:
        """Run a reader's steps; yield its records."""
        reply: Any = None
        try:
            while True:
                try:
                    step = flow.send(reply)
                except StopIteration:
                    return
                if isinstance(step, Call):
                    reply = self._call(step)
                else:
                    reply = None
                    yield from step
        finally:
            flow.close()

    def ping(self) -> bool:
        """Whether a Submarine server answers at ``host``.

        :returns: True when it answers; False when it cannot be reached (after retries) or
            answers with a server error. Other errors (a 401, a page that is not
            Submarine's) are raised.
        """
        try:
            return self._call(self._core.ping_call())
        except APIConnectionError:
            return False

    # -- following logs ------------------------------------------------------------------

    def stream_logs(
        self,
        id: str,
        follow: bool = True,
        *,
        polling_interval: float = 2.0,
        timeout: float | None = None,
    ) -> LogStream:
        """The log lines of an experiment as they are written: ``(pod_name, line)`` each.

        Lines of different pods come interleaved, in the order they are seen; the stream's
        ``status`` is the experiment's status as last seen.

        >>> for pod, line in client.stream_logs(experiment_id):  # doctest: +SKIP
        ...     print(f"[{pod}] {line}")

        :param id: the experiment id.
        :param follow: keep going until the experiment is Succeeded, Failed or Deleted (or
            vanishes); with False, give what is there now and stop.
        :param polling_interval: seconds between two looks at a server without the
            log-stream extension; with it, the longest a request waits for new output.
        :param timeout: give up after this many seconds with ``WaitTimeoutError``.
        """
        follower = self._core.follower(
            id,
            follow=follow,
            polling_interval=polling_interval,
            timeout=timeout,
            clock=self._clock,
        )
        return LogStream(self._follow(follower), follower)

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
        follower = self._core.follower(
            id,
            follow=True,
            polling_interval=polling_interval,
            timeout=timeout,
            clock=self._clock,
            waiting=True,
        )
        printer = LinePrinter(sys.stdout if stream is None else stream)
        for pod, line in self._follow(follower):
            printer.write(pod, line)
        return follower.outcome(raise_on_failure)

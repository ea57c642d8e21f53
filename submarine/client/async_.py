"""AsyncExperimentClient: the asyncio client of a Submarine experiment service."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

import anyio
from typing_extensions import Self

from submarine.client._artifacts import AsyncArtifactMethods
from submarine.client._steps import Call, Sleep, SpecInput, Steps
from submarine.client._stream import AsyncLogStream, LinePrinter
from submarine.client._templates import AsyncTemplateMethods
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

    from submarine.client._deadline import Budget
    from submarine.client._follow import Follower
    from submarine.client._records import RecordFlow

__all__ = ["AsyncExperimentClient"]

T = TypeVar("T")


class AsyncExperimentClient(AsyncTemplateMethods, AsyncArtifactMethods):
    """Asyncio client of a Submarine server: the methods of :class:`ExperimentClient`, awaited.

    One connection pool per client; use it with ``async with``, or ``await close()``.
    Runs on asyncio or trio (through anyio, as httpx does).

    >>> from submarine import AsyncExperimentClient
    >>> async with AsyncExperimentClient("http://localhost:8080") as client:  # doctest: +SKIP
    ...     experiment = await client.create_experiment(spec)
    ...     async for pod, line in client.stream_logs(experiment.experiment_id):
    ...         print(pod, line)

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
    :param transport: an ``httpx.AsyncBaseTransport`` to send requests through (tests use
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
        transport: httpx.AsyncBaseTransport | None = None,
        retry_backoff: float = 0.5,
    ) -> None:
        # The client core and httpx are loaded with the first client rather than with
        # ``from submarine import AsyncExperimentClient``: a script that only builds specs, or a
        # tool that imports the package to read its models, never pays for a transport.
        import httpx

        from submarine.client._core import ClientCore

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
        self._sleep: Callable[[float], Awaitable[None]] = anyio.sleep
        self._clock: Callable[[], float] = time.monotonic
        self._http = httpx.AsyncClient(
            transport=transport, **self._core.http_options(asynchronous=True)
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    # -- life cycle ----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- sending ------------------------------------------------------------------------

    async def _send(self, call: Call[Any]) -> httpx.Response:
        """Send a call, again as long as the retry policy says so; the final answer, read
        whole within the call's deadline (a cancel scope)."""
        core = self._core
        budget = core.budget(call)
        if budget.seconds is None:
            return await self._attempts(call, budget)
        with anyio.move_on_after(budget.seconds):
            return await self._attempts(call, budget)
        raise budget.error(call.method, call.url)

    async def _attempts(self, call: Call[Any], budget: Budget) -> httpx.Response:
        core = self._core
        attempt = 0
        while True:
            try:
                response = await self._http.request(**core.request_options(call, budget))
            except core.REQUEST_ERROR as exc:
                await self._sleep(core.pause_after_error(call, attempt, exc, budget))
            else:
                pause = core.pause_after_answer(call, attempt, response, budget)
                if pause is None:
                    return response
                await self._sleep(pause)
            attempt += 1

    async def _call(self, call: Call[T]) -> T:
        return call.read(await self._send(call))

    async def _follow(self, follower: Follower) -> AsyncGenerator[tuple[str, str], None]:
        """Run a follower's steps; yield its new lines."""
        steps = Steps(follower.flow())
        try:
            while (step := steps.next()) is not None:
                if isinstance(step, Call):
                    try:
                        steps.reply(await self._call(step))
                    except SubmarineError as exc:
                        steps.fail(exc)
                elif isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                else:
                    for item in step:
                        yield item
        finally:
            steps.close()

    # -- the experiment API -----------------------------------------------------------------

    async def create_experiment(self, experiment_spec: SpecInput) -> Experiment:
        """Create an experiment; the server answers with status ``Accepted``.

        :param experiment_spec: an :class:`ExperimentSpec`, or a dict or a spec read from a
            server (``experiment.spec``), validated as one
            (``SpecValidationError``, listing every problem, before anything is sent).
        :returns: the experiment, with its ``experiment_id``.
        """
        return await self._call(self._core.create_call(experiment_spec))

    async def patch_experiment(self, id: str, experiment_spec: SpecInput) -> Experiment:
        """Replace the spec of an experiment.

        :param id: the experiment id.
        :param experiment_spec: the whole new spec (validated like ``create_experiment``'s).
        :returns: the experiment with its new spec.
        """
        return await self._call(self._core.patch_call(id, experiment_spec))

    async def get_experiment(self, id: str) -> Experiment:
        """The experiment with this id (``NotFoundError`` when there is none).

        :param id: the experiment id.
        """
        return await self._call(self._core.get_call(id))

    async def list_experiments(
        self, status: str | ExperimentStatus | None = None
    ) -> ExperimentList:
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
        return await self._call(self._core.list_call(status))

    async def delete_experiment(self, id: str) -> Experiment:
        """Delete an experiment, stopping it if it runs; answers with status ``Deleted``.

        :param id: the experiment id.
        """
        return await self._call(self._core.delete_call(id))

    async def get_log(
        self, id: str, onlyMaster: bool = False, *, stream: IO[str] | None = None
    ) -> ExperimentLog:
        """Print the logs of an experiment's pods, each under ``The logs of Pod <name>:``.

        :param id: the experiment id.
        :param onlyMaster: keep only the master role's pod: Master, else Chief, else Ps,
            else worker 0.
        :param stream: where to print (default: ``sys.stdout`` at the time of the call).
        :returns: the logs, filtered the same way.
        """
        return await self._call(self._core.log_call(id, onlyMaster, stream))

    async def list_log(self, status: str | ExperimentStatus) -> list[ExperimentLog]:
        """The pods of every experiment with a status (their ``podLog`` lists are empty).

        :param status: Accepted, Created, Running, Succeeded, Failed or Deleted (any case).
        """
        return await self._call(self._core.list_log_call(status))

    async def get_metrics(self, id: str) -> list[Metric]:
        """Every metric value the experiment's replicas recorded.

        :param id: the experiment id.
        :returns: :class:`~submarine.models.Metric` values (key, value, worker, step, time),
            in the order they came, grouped by key and worker within each page read.
        """
        return [metric async for metric in self.iter_metrics(id)]

    async def get_params(self, id: str) -> list[Param]:
        """Every param the experiment's replicas recorded.

        :param id: the experiment id.
        :returns: :class:`~submarine.models.Param` values (key, value, worker).
        """
        return [param async for param in self.iter_params(id)]

    def iter_metrics(
        self, id: str, *, key: str | None = None, worker: str | None = None
    ) -> AsyncIterator[Metric]:
        """The experiment's metric values as they are read, a page at a time from a local
        server (so a reader holds one page however many there are).

        >>> async for metric in client.iter_metrics(experiment_id, key="loss"):  # doctest: +SKIP
        ...     print(metric.step, metric.value)

        :param id: the experiment id.
        :param key: only the metric of this key.
        :param worker: only what this worker recorded, like ``worker-0``.
        """
        from submarine.client._records import records_flow

        return self._walk(records_flow(self._core, "metric", id, key=key, worker=worker))

    def iter_params(
        self, id: str, *, key: str | None = None, worker: str | None = None
    ) -> AsyncIterator[Param]:
        """The experiment's params as they are read, a page at a time from a local server.

        :param id: the experiment id.
        :param key: only the param of this key.
        :param worker: only what this worker recorded.
        """
        from submarine.client._records import records_flow

        return self._walk(records_flow(self._core, "param", id, key=key, worker=worker))

    async def _walk(self, flow: RecordFlow) -> AsyncGenerator[Any, None]:
        """Run a reader's steps; yield its records."""
        reply: Any = None
        try:
            while True:
                try:
                    step = flow.send(reply)
                except StopIteration:
                    return
                if isinstance(step, Call):
                    reply = await self._call(step)
                else:
                    reply = None
                    for record in step:
                        yield record
        finally:
            flow.close()

    async def ping(self) -> bool:
        """Whether a Submarine server answers at ``host``.

        :returns: True when it answers; False when it cannot be reached (after retries) or
            answers with a server error. Other errors (a 401, a page that is not
            Submarine's) are raised.
        """
        try:
            return await self._call(self._core.ping_call())
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
    ) -> AsyncLogStream:
        """The log lines of an experiment as they are written: ``(pod_name, line)`` each.

        Lines of different pods come interleaved, in the order they are seen; the stream's
        ``status`` is the experiment's status as last seen.

        >>> async for pod, line in client.stream_logs(experiment_id):  # doctest: +SKIP
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
        return AsyncLogStream(self._follow(follower), follower)

    async def wait_for_finish(
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
        async for pod, line in self._follow(follower):
            printer.write(pod, line)
        return follower.outcome(raise_on_failure)

"""What a caller of ``stream_logs`` holds: a stream of ``(pod, line)`` that knows its
experiment's status, and a printer of followed lines.

Nothing here sends a request (the client's :class:`~submarine.client._follow.Follower`
does), so the clients import it with their own module.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING

from typing_extensions import Self

from submarine.client._terminal import printable

if TYPE_CHECKING:
    from submarine.client._follow import Follower

__all__ = ["AsyncLogStream", "LinePrinter", "LogStream"]


class LinePrinter:
    """Prints followed lines, with a ``The logs of Pod <name>:`` header whenever the pod
    changes from the previous line's pod."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last_pod: str | None = None

    def write(self, pod: str, line: str) -> None:
        """Print one new line of ``pod``."""
        if pod != self.last_pod:
            self.stream.write(f"The logs of Pod {printable(pod)}:\n")
            self.last_pod = pod
        self.stream.write(printable(line) + "\n")
        self.stream.flush()


class _StreamState:
    """What a stream of log lines knows of its experiment while the lines come."""

    def __init__(self, follower: Follower) -> None:
        self._follower = follower

    @property
    def experiment_id(self) -> str:
        """The experiment followed."""
        return self._follower.tracker.experiment_id

    @property
    def status(self) -> str:
        """The experiment's status as last seen (``""`` before the first answer); Deleted
        when it vanished."""
        return self._follower.tracker.status

    @property
    def pods(self) -> list[str]:
        """The pods that have written lines so far, in the order they were first seen."""
        return list(self._follower.tracker.counts)


class LogStream(_StreamState, Iterator[tuple[str, str]]):
    """``(pod_name, line)`` for each log line of an experiment, as the lines are written;
    lines of different pods come interleaved, in the order they are seen.

    While it is read, :attr:`status` is the experiment's status as last seen. Use it as
    a context manager, or call :meth:`close`, to stop early.

    >>> with client.stream_logs(experiment_id) as lines:  # doctest: +SKIP
    ...     for pod, line in lines:
    ...         print(f"[{pod}] {line} ({lines.status})")
    """

    def __init__(self, lines: Generator[tuple[str, str], None, None], follower: Follower):
        super().__init__(follower)
        self._lines = lines

    def __next__(self) -> tuple[str, str]:
        return next(self._lines)

    def close(self) -> None:
        """Stop following; no request is sent any more."""
        self._lines.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncLogStream(_StreamState, AsyncIterator[tuple[str, str]]):
    """The asyncio mirror of :class:`LogStream`: ``async for pod, line in stream``."""

    def __init__(self, lines: AsyncGenerator[tuple[str, str], None], follower: Follower):
        super().__init__(follower)
        self._lines = lines

    async def __anext__(self) -> tuple[str, str]:
        return await self._lines.__anext__()

    async def aclose(self) -> None:
        """Stop following; no request is sent any more."""
        await self._lines.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

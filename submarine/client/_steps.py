"""The steps a client takes for an operation, described without doing any I/O.

A :class:`Call` is one request and how its answer is read; a :class:`Sleep` is a pause.
Operations of more than one request (following logs) are generators of steps that
receive each call's result, or have its exception thrown in, the way ``httpx.Auth``
flows receive responses. :class:`Steps` walks such a generator for a client, so the
blocking and the asyncio client each only send requests and sleep.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from submarine.client.config import Timeout
from submarine.client.errors import SubmarineError
from submarine.models import ExperimentSpec, ExperimentSpecPayload

if TYPE_CHECKING:
    import httpx

__all__ = ["JSON_HEADERS", "Call", "Flow", "Lines", "Sleep", "SpecInput", "Step", "Steps"]

T = TypeVar("T")

JSON_HEADERS: Mapping[str, str] = {"Content-Type": "application/json"}
"""Headers of a request with a JSON body."""


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to the server, and how its answer becomes a result (or raises)."""

    method: str
    url: str
    read: Callable[[httpx.Response], T] = field(repr=False)
    """Turns the final answer (after retries) into the result, or raises ours."""
    params: Mapping[str, str] | None = None
    content: bytes | None = field(default=None, repr=False)
    idempotent: bool = True
    """Whether sending it twice does no harm: only such calls are retried after they
    may have reached the server."""
    timeout: Timeout | None = None
    """This request's timeout, instead of the client's."""
    long_poll: float = 0.0
    """Seconds the server may hold this request before it answers (a long poll): its
    deadline is that much longer than the client's."""


@dataclass(frozen=True)
class Sleep:
    """A pause between two looks at the server."""

    seconds: float


SpecInput: TypeAlias = ExperimentSpec | ExperimentSpecPayload | Mapping[str, Any]
"""What create and patch take: a spec, a spec read back from a server, or a dict."""

Lines: TypeAlias = list[tuple[str, str]]
"""New log lines, as ``(pod name, line)``, for the caller."""

Step: TypeAlias = Call[Any] | Sleep | Lines
"""What an operation asks of a client next."""

Flow: TypeAlias = Generator[Step, Any, None]
"""An operation of several steps: yields steps, receives each call's result."""


class Steps:
    """Walks a :data:`Flow` for a client: the client runs each step it is given and
    reports the call's result with :meth:`reply` or its error with :meth:`fail`."""

    def __init__(self, flow: Flow) -> None:
        self._flow = flow
        self._reply: Any = None
        self._error: SubmarineError | None = None

    def next(self) -> Step | None:
        """The next step, or None when the operation is over (its errors raise here)."""
        reply, error = self._reply, self._error
        self._reply = self._error = None
        try:
            return self._flow.throw(error) if error is not None else self._flow.send(reply)
        except StopIteration:
            return None

    def reply(self, result: Any) -> None:
        """The result of the call just run, for the operation."""
        self._reply = result

    def fail(self, error: SubmarineError) -> None:
        """The error of the call just run, raised inside the operation."""
        self._error = error

    def close(self) -> None:
        """End the operation early (the caller stopped reading lines)."""
        self._flow.close()

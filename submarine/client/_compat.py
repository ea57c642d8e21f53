"""0.8.0's ``*_async`` calls: a plain call run on the client's thread pool.

In ``apache-submarine`` 0.8.0, ``get_experiment_async(id)`` and its kin return the generated
client's ``multiprocessing.pool.ApplyResult``: ``ready()`` says whether the answer came,
``get()`` gives it (0.8.0's CLI reads ``client.get_experiment_async(id).get().result``).
Here the same calls return an :class:`AsyncResult` of the plain call's typed answer:
``get().result`` is the :class:`~submarine.models.Experiment` that ``get_experiment(id)``
returns, and ``get()`` raises what the plain call raises.

The calls of one client share one thread pool, made on the first such call and shut down
by the client's ``close()``. (These are 0.8.0's API, kept for the code written for it; the
asyncio clients are the way to wait for several answers at once.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import concurrent.futures

    from submarine.models import Experiment, ExperimentList, ExperimentStatus

__all__ = ["AsyncResult", "ExperimentCallsInThreads", "JsonResponse", "ThreadPoolCalls"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

POOL_THREADS: Final = 4
"""Threads of a client's pool: calls beyond this many wait for one to finish."""
_MAKING = threading.Lock()


@dataclass(frozen=True)
class JsonResponse(Generic[T_co]):
    """0.8.0's answer object, as ``AsyncResult.get()`` and the generated API classes
    (``ExperimentTemplateApi``...) give it: ``result`` is the typed answer of the plain
    call, and ``code``, ``success`` and ``attributes`` are what 0.8.0's envelope says of
    every successful answer (an error answer raises instead)."""

    result: T_co
    """The answer: what the plain call (``get_experiment``, ...) returns."""
    code: int = 200
    """The envelope's code of a successful answer."""
    success: bool = True
    """The envelope's ``success`` of a successful answer."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """The envelope's attributes (Submarine sends none)."""


class AsyncResult(Generic[T]):
    """A call running on the client's thread pool, as 0.8.0's ``ApplyResult``.

    >>> pending = client.get_experiment_async(experiment_id)  # doctest: +SKIP
    >>> pending.get().result.status  # doctest: +SKIP
    <ExperimentStatus.RUNNING: 'Running'>
    """

    def __init__(self, future: concurrent.futures.Future[T]) -> None:
        self._future = future

    def ready(self) -> bool:
        """Whether the call is over (answered or failed)."""
        return self._future.done()

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the call is over, or ``timeout`` seconds."""
        import concurrent.futures  # loaded with the first call in a thread

        concurrent.futures.wait([self._future], timeout=timeout)

    def successful(self) -> bool:
        """Whether the call answered without an error; ``ValueError`` while it runs."""
        if not self._future.done():
            raise ValueError("the call is not over yet: wait for it, or ask ready() first")
        return self._future.exception() is None

    def get(self, timeout: float | None = None) -> JsonResponse[T]:
        """The answer, once it came (waiting for it): raises what the plain call raises, or
        ``TimeoutError`` after ``timeout`` seconds."""
        return JsonResponse(self._future.result(timeout))


class ThreadPoolCalls:
    """A client's one thread pool for 0.8.0's ``*_async`` calls (a mixin)."""

    _pool: concurrent.futures.ThreadPoolExecutor | None = None
    _pool_closed: bool = False

    def _in_thread(self, call: Callable[..., T], *args: Any) -> AsyncResult[T]:
        """Run ``call(*args)`` on the pool."""
        import concurrent.futures  # loaded with the first call in a thread

        with _MAKING:
            if self._pool_closed:
                raise RuntimeError("the client is closed: make a new one")
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    POOL_THREADS, thread_name_prefix=f"submarine-{type(self).__name__}"
                )
            return AsyncResult(self._pool.submit(call, *args))

    def _close_pool(self) -> None:
        """Cancel the calls not started, wait for those under way; no more calls."""
        with _MAKING:
            pool, self._pool = self._pool, None
            self._pool_closed = True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class _Experiments(Protocol):
    def _in_thread(self, call: Callable[..., T], *args: Any) -> AsyncResult[T]: ...

    def get_experiment(self, id: str) -> Experiment: ...

    def list_experiments(self, status: str | ExperimentStatus | None = None) -> ExperimentList: ...

    def delete_experiment(self, id: str) -> Experiment: ...


class ExperimentCallsInThreads(ThreadPoolCalls):
    """0.8.0's ``*_async`` calls of the experiment client (a mixin)."""

    def get_experiment_async(self: _Experiments, id: str) -> AsyncResult[Experiment]:
        """``get_experiment(id)`` on the client's thread pool (0.8.0's API).

        :param id: the experiment id.
        :returns: an :class:`AsyncResult`; ``get().result`` is the experiment.
        """
        return self._in_thread(self.get_experiment, id)

    def list_experiments_async(
        self: _Experiments, status: str | ExperimentStatus | None = None
    ) -> AsyncResult[ExperimentList]:
        """``list_experiments(status)`` on the client's thread pool (0.8.0's API).

        :param status: Accepted, Created, Running, Succeeded, Failed or Deleted (any case).
        :returns: an :class:`AsyncResult`; ``get().result`` is the list.
        """
        return self._in_thread(self.list_experiments, status)

    def delete_experiment_async(self: _Experiments, id: str) -> AsyncResult[Experiment]:
        """``delete_experiment(id)`` on the client's thread pool (0.8.0's API).

        :param id: the experiment id.
        :returns: an :class:`AsyncResult`; ``get().result`` is the deleted experiment.
        """
        return self._in_thread(self.delete_experiment, id)

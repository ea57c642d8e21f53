"""The clients of Submarine's environment API: :class:`EnvironmentClient` blocks,
:class:`AsyncEnvironmentClient` is its asyncio mirror.

An environment is a named description of where replicas run (an image, and a kernel of
conda and pip packages) that experiments name in ``environment.name``. The calls are
0.8.0's ``EnvironmentClient``'s, with typed answers (:class:`~submarine.models.Environment`,
read like 0.8.0's dicts too: ``environment["environmentSpec"]["name"]``).

Each client holds an experiment client of the same server and options (its ``experiments``),
whose connection pool, retries, deadline and credentials it uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TypedDict

from typing_extensions import Self, Unpack

from submarine.client._compat import AsyncResult, ThreadPoolCalls
from submarine.client.config import Timeout
from submarine.client.sync import ExperimentClient

if TYPE_CHECKING:
    import httpx

    from submarine.client._envcalls import EnvironmentInput
    from submarine.client.async_ import AsyncExperimentClient
    from submarine.models import Environment

__all__ = ["AsyncEnvironmentClient", "EnvironmentClient"]


class _Options(TypedDict, total=False):
    token: str | None
    username: str | None
    password: str | None
    timeout: Timeout | float | httpx.Timeout | None
    deadline: float | Literal["auto"] | None
    max_answer_bytes: int | None
    max_retries: int
    headers: Mapping[str, str] | None
    retry_backoff: float


class _SyncOptions(_Options, total=False):
    transport: httpx.BaseTransport | None


class _AsyncOptions(_Options, total=False):
    transport: httpx.AsyncBaseTransport | None


class EnvironmentClient(ThreadPoolCalls):
    """Client of a Submarine server's environments: create, list, get, patch, delete by name.

    >>> from submarine.client import EnvironmentClient
    >>> from submarine.models import EnvironmentSpec, KernelSpec
    >>> with EnvironmentClient("http://localhost:8080") as client:  # doctest: +SKIP
    ...     env = client.create_environment(EnvironmentSpec(
    ...         name="my-env", kernel_spec=KernelSpec(pip_dependencies=["requests"])))
    ...     env.environment_id
    'environment_1700000000000_0001'

    :param host: base URL of the server, as for :class:`ExperimentClient`.
    :param options: the other options of :class:`ExperimentClient` (``token``,
        ``username``, ``password``, ``timeout``, ``deadline``, ``max_answer_bytes``,
        ``max_retries``, ``headers``, ``transport``, ``retry_backoff``).
    """

    def __init__(self, host: str | None = None, **options: Unpack[_SyncOptions]) -> None:
        # The calls (httpx, the decoders) load with the first client, not with the import.
        from submarine.client._envcalls import EnvironmentCalls

        self.experiments = ExperimentClient(host, **options)
        """The experiment client of the same server, whose connections this one uses."""
        self.host: str = self.experiments.host
        """The server's base URL (a password or token in it shown as ``***``)."""
        self._calls = EnvironmentCalls(self.experiments._core.host)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    def close(self) -> None:
        """Close the connection pool and the thread pool; the client cannot be used
        afterwards."""
        self._close_pool()
        self.experiments.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def create_environment(self, environment_spec: EnvironmentInput) -> Environment:
        """Store a new environment.

        :param environment_spec: an :class:`~submarine.models.EnvironmentSpec` with a name,
            or a dict, judged as an :class:`~submarine.models.EnvironmentDefinition`
            (``SpecValidationError``, listing every problem, before anything is sent).
        :returns: the environment, with its ``environment_id``.
        """
        return self.experiments._call(self._calls.create(environment_spec))

    def update_environment(self, name: str, environment_spec: EnvironmentInput) -> Environment:
        """Replace the spec of an environment (0.8.0's name; also ``patch_environment``).

        :param name: the environment's name.
        :param environment_spec: the whole new spec, judged like ``create_environment``'s.
        """
        return self.experiments._call(self._calls.update(name, environment_spec))

    patch_environment = update_environment

    def get_environment(self, name: str) -> Environment:
        """The environment of this name (``NotFoundError``, "Environment not found.", when
        there is none).

        :param name: the environment's name.
        """
        return self.experiments._call(self._calls.get(name))

    def list_environments(self, status: str | None = None) -> list[Environment]:
        """Every environment.

        :param status: accepted for 0.8.0's signature; environments have no status, and
            every one is listed (as by 0.8.0's server).
        """
        return self.experiments._call(self._calls.list())

    def delete_environment(self, name: str) -> Environment:
        """Delete an environment; the answer is the environment as it was.

        :param name: the environment's name.
        """
        return self.experiments._call(self._calls.delete(name))

    # -- 0.8.0's calls on the thread pool ------------------------------------------------

    def create_environment_async(
        self, environment_spec: EnvironmentInput
    ) -> AsyncResult[Environment]:
        """``create_environment`` on the client's thread pool (0.8.0's API): an
        :class:`~submarine.client._compat.AsyncResult` whose ``get().result`` is the answer."""
        return self._in_thread(self.create_environment, environment_spec)

    def get_environment_async(self, name: str) -> AsyncResult[Environment]:
        """``get_environment`` on the client's thread pool (0.8.0's API)."""
        return self._in_thread(self.get_environment, name)

    def list_environments_async(self, status: str | None = None) -> AsyncResult[list[Environment]]:
        """``list_environments`` on the client's thread pool (0.8.0's API)."""
        return self._in_thread(self.list_environments, status)

    def delete_environment_async(self, name: str) -> AsyncResult[Environment]:
        """``delete_environment`` on the client's thread pool (0.8.0's API)."""
        return self._in_thread(self.delete_environment, name)


class AsyncEnvironmentClient:
    """Asyncio client of a Submarine server's environments: :class:`EnvironmentClient`'s
    calls, awaited.

    >>> async with AsyncEnvironmentClient("http://localhost:8080") as client:  # doctest: +SKIP
    ...     names = [env.name for env in await client.list_environments()]

    :param host: base URL of the server, as for :class:`AsyncExperimentClient`.
    :param options: the other options of :class:`AsyncExperimentClient`.
    """

    def __init__(self, host: str | None = None, **options: Unpack[_AsyncOptions]) -> None:
        from submarine.client._envcalls import EnvironmentCalls
        from submarine.client.async_ import AsyncExperimentClient  # asyncio: only when used

        self.experiments: AsyncExperimentClient = AsyncExperimentClient(host, **options)
        """The experiment client of the same server, whose connections this one uses."""
        self.host: str = self.experiments.host
        """The server's base URL (a password or token in it shown as ``***``)."""
        self._calls = EnvironmentCalls(self.experiments._core.host)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    async def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        await self.experiments.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def create_environment(self, environment_spec: EnvironmentInput) -> Environment:
        """Store a new environment (see :meth:`EnvironmentClient.create_environment`)."""
        return await self.experiments._call(self._calls.create(environment_spec))

    async def update_environment(
        self, name: str, environment_spec: EnvironmentInput
    ) -> Environment:
        """Replace the spec of an environment (also ``patch_environment``)."""
        return await self.experiments._call(self._calls.update(name, environment_spec))

    patch_environment = update_environment

    async def get_environment(self, name: str) -> Environment:
        """The environment of this name (``NotFoundError`` when there is none)."""
        return await self.experiments._call(self._calls.get(name))

    async def list_environments(self, status: str | None = None) -> list[Environment]:
        """Every environment (``status`` is accepted and, as by 0.8.0, not used)."""
        return await self.experiments._call(self._calls.list())

    async def delete_environment(self, name: str) -> Environment:
        """Delete an environment; the answer is the environment as it was."""
        return await self.experiments._call(self._calls.delete(name))

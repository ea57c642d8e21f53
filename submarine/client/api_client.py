"""0.8.0's import path of ``ApiClient``: what 0.8.0's generated API classes are made with.

``ExperimentTemplateApi(api_client)`` and its kin take one, as in ``apache-submarine``
0.8.0; here an :class:`ApiClient` is a :class:`~submarine.client.ExperimentClient` of its
configuration's host, made on the first call, whose typed methods the generated classes
call (see :mod:`submarine.client.api`).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from typing_extensions import Self

from submarine.client.configuration import Configuration

if TYPE_CHECKING:
    from submarine.client.sync import ExperimentClient

__all__ = ["ApiClient"]


class ApiClient:
    """The connection of 0.8.0's generated API classes to a server (0.8.0's ``ApiClient``).

    >>> api_client = ApiClient(Configuration(host="http://localhost:8080/api"))
    >>> api_client.client  # doctest: +SKIP
    ExperimentClient(host='http://localhost:8080')

    :param configuration: where the server is (by default: found as ``ExperimentClient()``
        finds it).
    :param header_name: with ``header_value``, a header sent with every request.
    :param header_value: the value of ``header_name``.
    """

    def __init__(
        self,
        configuration: Configuration | None = None,
        header_name: str | None = None,
        header_value: str | None = None,
    ) -> None:
        self.configuration = configuration if configuration is not None else Configuration()
        """Where the server is; read when the first call is made."""
        self.default_headers: dict[str, str] = {}
        """Headers sent with every request (set them before the first call)."""
        if header_name is not None and header_value is not None:
            self.default_headers[header_name] = header_value
        self._client: ExperimentClient | None = None
        self._making = threading.Lock()

    @property
    def client(self) -> ExperimentClient:
        """The typed client the generated API classes call, made on first use."""
        with self._making:
            if self._client is None:
                from submarine.client.sync import ExperimentClient

                self._client = ExperimentClient(
                    self.configuration.host, headers=self.default_headers or None
                )
            return self._client

    def close(self) -> None:
        """Close the client's connections (a later call opens new ones)."""
        with self._making:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ApiClient({self.configuration!r})"

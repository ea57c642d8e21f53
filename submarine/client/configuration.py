"""0.8.0's import path of ``Configuration``: where the generated API classes find the server.

In ``apache-submarine`` 0.8.0, ``Configuration`` holds the settings of its generated
OpenAPI client, above all ``host``, the server's address with ``/api``
(``http://localhost:8080/api``). Here it holds only the host: an :class:`ApiClient
<submarine.client.api_client.ApiClient>` made with it calls a typed
:class:`~submarine.client.ExperimentClient` of that host (the trailing ``/api`` is
tolerated). Without a host, the client finds the server as ``ExperimentClient()`` does
(``SUBMARINE_HOST``, then ``SUBMARINE_SERVER_DNS_NAME`` and ``SUBMARINE_SERVER_PORT``, then
``http://localhost:8080``); 0.8.0's default was ``http://localhost/api``.
"""

from __future__ import annotations

__all__ = ["Configuration"]


class Configuration:
    """The server 0.8.0's generated API classes speak to (0.8.0's ``Configuration``).

    >>> configuration = Configuration()
    >>> configuration.host = "http://localhost:8080/api"  # as 0.8.0's get_api_client does

    :param host: the server's address, like ``http://localhost:8080/api`` (``/api`` may be
        left out); None finds the server as ``ExperimentClient()`` does.
    """

    def __init__(self, host: str | None = None) -> None:
        self.host: str | None = host
        """The server's address; None: found as ``ExperimentClient()`` finds it."""

    def __repr__(self) -> str:
        return f"Configuration(host={self.host!r})"

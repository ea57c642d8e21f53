"""0.8.0's helpers that make the generated API classes' client: ``generate_host`` and
``get_api_client``, as code written for ``apache-submarine`` 0.8.0 calls them::

    from submarine.client.utils.api_utils import get_api_client

    template_api = ExperimentTemplateApi(get_api_client("http://localhost:8080"))
"""

from __future__ import annotations

from submarine.client.api_client import ApiClient
from submarine.client.config import resolve_host
from submarine.client.configuration import Configuration

__all__ = ["generate_host", "get_api_client"]


def generate_host() -> str:
    """The server's address as ``ExperimentClient()`` finds it: ``SUBMARINE_HOST``, then
    ``SUBMARINE_SERVER_DNS_NAME`` and ``SUBMARINE_SERVER_PORT`` (0.8.0 reads only these
    two, and gives ``http://None:None`` without them), then ``http://localhost:8080``."""
    return resolve_host(None)


def get_api_client(host: str) -> ApiClient:
    """An :class:`ApiClient` of the server at ``host`` (like ``http://localhost:8080``).

    :param host: the server's address, without ``/api`` (as 0.8.0 takes it).
    """
    return ApiClient(Configuration(host=host + "/api"))

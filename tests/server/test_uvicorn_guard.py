"""The connection guard extends uvicorn's h11 protocol, which is no public API: on a
uvicorn that changed it, this fails naming what is missing, and the server refuses to
start saying so (rather than failing on every connection)."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from submarine.server.api import connections
from submarine.server.api.connections import guarded_protocol, missing_internals
from submarine.server.errors import ServerStartError


def test_the_installed_uvicorn_has_what_the_guard_extends() -> None:
    missing = missing_internals()
    assert missing == [], (
        f"uvicorn {uvicorn.__version__} changed uvicorn.protocols.http.h11_impl.H11Protocol; "
        f"the connection guard (submarine/server/api/connections.py) needs {missing}: adapt "
        "it, or keep uvicorn within the bound of the 'server' extra in pyproject.toml"
    )


class _Renamed:
    """A protocol as a later uvicorn might have it: a hook gone, attributes renamed."""

    def __init__(self, connections: set[Any]) -> None:
        self.parser = None
        self.open = connections
        self.loop = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.client = None

    def connection_lost(self, exc: Exception | None) -> None:
        return

    def data_received(self, data: bytes) -> None:
        return


def test_a_changed_uvicorn_stops_the_server_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert missing_internals(_Renamed) == [
        "on_response_complete()",
        "send_400_response()",
        "self.conn",
        "self.connections",
        "self.server",
    ]
    monkeypatch.setattr(connections, "missing_internals", lambda: missing_internals(_Renamed))
    with pytest.raises(ServerStartError) as refused:
        guarded_protocol(10.0, 100)
    message = str(refused.value)
    assert f"uvicorn {uvicorn.__version__} changed the h11 protocol" in message
    assert "on_response_complete(), send_400_response(), self.conn" in message
    assert "submarine-sdk[server]" in message

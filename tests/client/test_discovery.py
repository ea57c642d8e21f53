"""A client finds the token of a local server of its own user, for exactly the address it
calls, and never trusts a file or a listener of another user."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from submarine._rundir import discovery_dir, read_discovery, remove_discovery, write_discovery
from submarine.client import AsyncExperimentClient, ExperimentClient
from submarine.client._discovery import Found, discover
from tests.as_nobody import NOBODY, needs_nobody, start_as_nobody

TOKEN = "token-that-a-server-generated-0123456789ab"
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux tells who listens")


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder / "submarine"


def _listen() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


@pytest.fixture
def listening() -> Iterator[int]:
    """A port this user listens on (nothing answers there: discovery only asks who holds it)."""
    with _listen() as sock:
        yield sock.getsockname()[1]


def test_the_file_is_private_and_says_where_and_what(runtime: Path, listening: int) -> None:
    path = write_discovery("127.0.0.1", listening, TOKEN)
    assert path == runtime / f"server-127.0.0.1-{listening}.json"
    assert (os.stat(runtime).st_mode & 0o777, os.stat(path).st_mode & 0o777) == (0o700, 0o600)
    body = json.loads(path.read_text())
    assert body == {
        "url": f"http://127.0.0.1:{listening}",
        "host": "127.0.0.1",
        "port": listening,
        "token": TOKEN,
        "pid": os.getpid(),
    }
    found = read_discovery("127.0.0.1", listening)
    assert found is not None
    assert (found.token, found.url) == (TOKEN, f"http://127.0.0.1:{listening}")
    remove_discovery(path)
    assert not path.exists()


def test_a_server_on_every_address_is_found_at_loopback(runtime: Path) -> None:
    assert write_discovery("0.0.0.0", 8080, TOKEN) == runtime / "server-127.0.0.1-8080.json"
    assert write_discovery("::", 8080, TOKEN) == runtime / "server-::1-8080.json"
    assert write_discovery("10.1.2.3", 8080, TOKEN) is None


def test_another_servers_file_is_left_alone(runtime: Path) -> None:
    path = write_discovery("127.0.0.1", 8080, TOKEN)
    assert path is not None
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "pid": os.getpid() + 1}))
    remove_discovery(path)
    assert path.exists()


@linux
def test_a_client_finds_the_token_of_exactly_its_address(runtime: Path, listening: int) -> None:
    write_discovery("127.0.0.1", listening, TOKEN)
    url = f"http://127.0.0.1:{listening}"
    assert discover(url) == Found(TOKEN, url)
    assert discover(url + "/") == Found(TOKEN, url)
    # localhost is called at the address the file was written for, and nowhere else.
    assert discover(f"http://localhost:{listening}") == Found(TOKEN, url)
    with _listen() as other:
        other_port = other.getsockname()[1]
        assert discover(f"http://127.0.0.1:{other_port}") is None  # port A's file, port B
    assert discover(f"http://127.0.0.2:{listening}") is None
    for not_plain in (
        f"https://127.0.0.1:{listening}",
        f"http://user:pw@127.0.0.1:{listening}",
        f"http://127.0.0.1:{listening}/behind/a/proxy",
        f"http://0.0.0.0:{listening}",
        f"http://example.org:{listening}",
    ):
        assert discover(not_plain) is None, not_plain


@linux
def test_a_file_for_another_address_under_this_name_is_ignored(
    runtime: Path, listening: int
) -> None:
    with _listen() as other:
        other_port = other.getsockname()[1]
        path = write_discovery("127.0.0.1", other_port, TOKEN)
        assert path is not None
        path.rename(runtime / f"server-127.0.0.1-{listening}.json")
        assert discover(f"http://127.0.0.1:{listening}") is None


def test_a_file_others_may_read_or_in_a_shared_dir_is_ignored(
    runtime: Path, listening: int
) -> None:
    path = write_discovery("127.0.0.1", listening, TOKEN)
    assert path is not None
    url = f"http://127.0.0.1:{listening}"
    path.chmod(0o640)
    assert discover(url) is None
    path.chmod(0o600)
    runtime.chmod(0o755)
    assert discover(url) is None
    runtime.chmod(0o700)
    path.unlink()
    path.symlink_to(runtime.parent / "elsewhere.json")
    (runtime.parent / "elsewhere.json").write_text(json.dumps({"host": "127.0.0.1"}))
    assert discover(url) is None


@needs_nobody
def test_a_file_of_another_user_is_ignored(runtime: Path, listening: int) -> None:
    path = write_discovery("127.0.0.1", listening, TOKEN)
    assert path is not None
    assert discover(f"http://127.0.0.1:{listening}") is not None
    os.chown(path, NOBODY, NOBODY)
    assert discover(f"http://127.0.0.1:{listening}") is None


@linux
def test_a_file_left_by_a_server_that_is_gone_is_ignored(runtime: Path) -> None:
    with _listen() as sock:
        port = sock.getsockname()[1]
    write_discovery("127.0.0.1", port, TOKEN)  # nothing listens on it any more
    assert discover(f"http://127.0.0.1:{port}") is None


SQUATTER = """
import socket, sys
sock = socket.socket()
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(1)
print("listening", flush=True)
sys.stdin.read()
"""


@needs_nobody
@pytest.mark.slow  # starts a process of another user
def test_a_port_another_user_took_over_gets_no_token(runtime: Path) -> None:
    # A server crashed and left its file; another user now listens on its port.
    with _listen() as sock:
        port = sock.getsockname()[1]
    write_discovery("127.0.0.1", port, TOKEN)
    squatter = start_as_nobody(SQUATTER, str(port))
    try:
        assert squatter.stdout is not None
        assert squatter.stdout.readline().strip() == "listening"
        assert discover(f"http://127.0.0.1:{port}") is None
        with ExperimentClient(f"http://127.0.0.1:{port}") as client:
            assert client._core.credentials.token is None
    finally:
        squatter.communicate("", timeout=30)


def _recorder(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"status": "OK", "code": 200, "success": True, "message": None}
        return httpx.Response(200, json={**body, "result": [], "attributes": {}})

    return httpx.MockTransport(answer)


@linux
def test_both_clients_send_the_discovered_token_to_its_address(
    runtime: Path, listening: int
) -> None:
    write_discovery("127.0.0.1", listening, TOKEN)
    seen: list[httpx.Request] = []
    with ExperimentClient(f"localhost:{listening}", transport=_recorder(seen)) as client:
        assert client.host == f"http://127.0.0.1:{listening}"
        assert client.list_experiments() == []

    async def listing() -> None:
        transport = _recorder(seen)
        async with AsyncExperimentClient(f"http://127.0.0.1:{listening}", transport=transport) as c:
            assert await c.list_experiments() == []

    asyncio.run(listing())
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {TOKEN}"] * 2
    assert {r.url.host for r in seen} == {"127.0.0.1"}
    assert TOKEN not in repr(client)


@linux
def test_a_token_or_a_user_given_is_never_replaced(runtime: Path, listening: int) -> None:
    write_discovery("127.0.0.1", listening, TOKEN)
    seen: list[httpx.Request] = []
    url = f"http://localhost:{listening}"
    with ExperimentClient(url, token="given-token", transport=_recorder(seen)) as client:
        assert client.host == url
        client.list_experiments()
    assert seen[-1].headers["authorization"] == "Bearer given-token"
    with ExperimentClient(url, username="ada", password="pw", transport=_recorder(seen)) as c:
        assert c._core.credentials.token is None
        assert c.host == url


def test_the_directory_falls_back_to_the_home(tmp_path: Path) -> None:
    assert discovery_dir({"HOME": str(tmp_path)}) == tmp_path / ".submarine" / "run"
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    assert discovery_dir({"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(shared)}) == (
        tmp_path / ".submarine" / "run"
    )
    assert discovery_dir({"HOME": str(tmp_path), "XDG_RUNTIME_DIR": "relative"}) == (
        tmp_path / ".submarine" / "run"
    )
    assert read_discovery("127.0.0.1", 8080, {"HOME": "relative"}) is None
    with pytest.raises(FileNotFoundError, match="no home directory"):
        write_discovery("127.0.0.1", 8080, TOKEN, {"HOME": "relative"})

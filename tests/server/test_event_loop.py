"""The server runs on uvloop's event loop when it is installed (the ``server`` extra brings
it): a flood of connections then costs the other clients about half as much of the loop
(``tests/reliability/test_login_burst.py`` measures it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from submarine.server import ServerStartError
from tests.conftest import ServerFactory

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None,
    reason="uvloop is not installed here (only off Linux: on Linux the extra's test below fails)",
)
def test_the_server_runs_on_uvloop(server_factory: ServerFactory) -> None:
    server = server_factory.start()
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "/uvloop/loop." in maps  # uvloop's compiled loop is loaded in the server


def test_loop_asyncio_runs_it_on_asyncios_loop(server_factory: ServerFactory) -> None:
    server = server_factory.start("--loop", "asyncio")
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "/uvloop/loop." not in maps


def test_loop_uvloop_without_uvloop_is_refused_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import submarine.server as server

    async def main() -> None:
        raise AssertionError("never run")

    monkeypatch.setitem(sys.modules, "uvloop", None)  # not installed
    with pytest.raises(ServerStartError) as refused:
        server._run(main(), "uvloop")
    assert "--loop uvloop: uvloop is not installed here" in str(refused.value)
    assert "--loop asyncio" in str(refused.value)


def test_uvloop_comes_with_the_server_extra_on_linux() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    server_extra = pyproject.split("server = [", 1)[1].split("]", 1)[0]
    assert '"uvloop>=' in server_extra
    if sys.platform.startswith("linux"):
        assert importlib.util.find_spec("uvloop") is not None

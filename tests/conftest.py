"""Fixtures shared by every test package: real local servers over real HTTP, and the
``slow`` lane.

* ``server_factory`` (function scope): ``server_factory.start(*args, env=None)`` (or just
  ``server_factory(*args, env=None)``) returns a :class:`RunningServer`: it runs
  ``python -m submarine.server --host 127.0.0.1 --port 0 --data-dir <tmp> *args`` in its own
  session, reads the real URL from its stderr and waits for ping. Every server it started
  is stopped at teardown, which asserts that the process exited.
* ``server`` (session scope): one shared :class:`RunningServer`; ``server_url``: its URL.

A :class:`RunningServer` has ``url``, ``data_dir``, ``workdir`` (the cwd replicas run in),
``process``, ``stop()`` (SIGTERM, wait), ``kill()`` (SIGKILL), ``restart()`` (same data
dir, a new port unless the arguments name one) and ``log()`` (the stderr text so far, of
every start). A stopped server leaves its running experiments running (for its next start
to adopt): the factory stops what its servers left when the test ends.

The ``slow`` marker is the lane of tests that start processes (a server, replicas, a
browser, a command line): ``make unit-fast`` runs everything else. A test that uses one of
the server fixtures is marked ``slow`` here; a test that starts a process while it is not
marked fails, naming the command, so the fast lane stays free of processes.

Specs, names and waits: :mod:`tests.support`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import wait_until

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_LISTENING = re.compile(r"Submarine local server listening on (http://\S+)")
_SCRUBBED_ENV = ("SUBMARINE_TOKEN", "SUBMARINE_HOME")
_CLIENT_ENV = (
    "SUBMARINE_HOST",
    "SUBMARINE_SERVER_DNS_NAME",
    "SUBMARINE_SERVER_PORT",
    "SUBMARINE_TOKEN",
    "SUBMARINE_USERNAME",
    "SUBMARINE_PASSWORD",
)


@pytest.fixture(scope="session", autouse=True)
def _runtime_dir_of_this_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The servers of this run leave their discovery files (and clients look for them) in
    a private directory of the run's own, not in the user's ``$XDG_RUNTIME_DIR``."""
    folder = tmp_path_factory.mktemp("runtime")
    folder.chmod(0o700)
    before = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = before


@pytest.fixture(autouse=True)
def _no_ambient_client_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SUBMARINE_* client setting of the machine reaches a client made in a test, nor
    the user's ``submarine config`` settings a command line (each test has a settings
    directory of its own, empty)."""
    for name in _CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))


class RunningServer:
    """A ``python -m submarine.server`` subprocess on 127.0.0.1 and a free port."""

    def __init__(
        self, data_dir: Path, workdir: Path, args: tuple[str, ...], env: dict[str, str] | None
    ) -> None:
        self.data_dir = data_dir
        self.workdir = workdir
        self.args = args
        self.env = env
        self.url = ""
        self._log_path = data_dir.parent / f"{data_dir.name}.stderr.log"
        self.process: subprocess.Popen[bytes] = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.update(self.env or {})
        command = [sys.executable, "-m", "submarine.server", "--host", "127.0.0.1"]
        command += ["--port", "0", "--data-dir", str(self.data_dir), *self.args]
        offset = self._log_path.stat().st_size if self._log_path.exists() else 0
        with self._log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
            )
        self.process = process
        self.url = self._wait_for_url(offset)
        self._wait_for_ping()
        return process

    def _wait_for_url(self, offset: int) -> str:
        def listening() -> str | None:
            with self._log_path.open("rb") as log:
                log.seek(offset)
                match = _LISTENING.search(log.read().decode("utf-8", "replace"))
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the server exited with {self.process.returncode}:\n{self.log()}"
                )
            return None

        try:
            return wait_until(
                listening,
                what=lambda: f"the server to listen:\n{self.log()}",
                timeout=START_TIMEOUT,
                interval=0.02,
            )
        except AssertionError:
            self.kill()
            raise

    def _wait_for_ping(self) -> None:
        def answered() -> bool:
            try:
                response = httpx.get(f"{self.url}/api/v1/experiment/ping", timeout=10)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        wait_until(
            answered,
            what=lambda: f"the server to answer ping:\n{self.log()}",
            timeout=START_TIMEOUT,
            interval=0.02,
        )

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the server wrote to stderr (and stdout), over all its starts."""
        if not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait for the exit (SIGKILL and fail if it does not come)."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"the server ignored SIGTERM for {timeout}s:\n{self.log()}"
                ) from None
        return self.process.returncode

    def kill(self) -> int:
        """SIGKILL the server process alone (as a crash would), and reap it."""
        if self.running:
            self.process.kill()
        return self.process.wait(STOP_TIMEOUT)

    def restart(self, *args: str) -> RunningServer:
        """Stop if running, then start again on the same data dir (new args if given)."""
        self.stop()
        if args:
            self.args = args
        self._launch()
        return self


class ServerFactory:
    """Starts servers in fresh directories under ``root`` and stops them all at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[RunningServer] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> RunningServer:
        """Start a server with extra command-line ``args`` and extra ``env`` variables."""
        index = len(self.servers)
        data_dir = self.root / f"server-{index}"
        workdir = self.root / f"work-{index}"
        workdir.mkdir(parents=True)
        server = RunningServer(data_dir, workdir, args, env)
        self.servers.append(server)
        return server

    __call__ = start

    def close(self) -> None:
        """Stop every server; assert each one exited."""
        problems = []
        for server in self.servers:
            try:
                server.stop()
            except AssertionError as exc:
                problems.append(str(exc))
            with_group_gone(server)
            if server.running:
                problems.append(f"server {server.url} is still running")
            stop_leftovers(server.data_dir)
        assert not problems, "\n".join(problems)


def with_group_gone(server: RunningServer) -> None:
    """Kill whatever is left in the server's own process group (after a kill -9)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)


def stop_leftovers(data_dir: Path) -> None:
    """Stop the replicas that a stopped server left running (they outlive the server, for
    its next start to adopt), as its state files record them."""
    import asyncio

    from submarine.server.run.layout import JobLayout
    from submarine.server.run.local import family_of

    layout = JobLayout(data_dir)
    if not layout.root.is_dir():
        return
    for directory in layout.root.iterdir():
        state = layout.read_state(directory.name)
        if state.groups:
            family = family_of(layout, directory.name, state.pgids)
            # In a thread of its own: the test's thread may run an event loop (Playwright's).
            stopper = threading.Thread(target=asyncio.run, args=(family.terminate(0.5),))
            stopper.start()
            stopper.join()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start local servers for one test: ``server_factory.start(*args, env=None)``."""
    factory = ServerFactory(tmp_path / "servers")
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One local server shared by the whole session (no token)."""
    factory = ServerFactory(tmp_path_factory.mktemp("shared-server"))
    try:
        yield factory.start()
    finally:
        factory.close()


@pytest.fixture(scope="session")
def server_url(server: RunningServer) -> str:
    """The URL of the shared local server, like ``http://127.0.0.1:41234``."""
    return server.url


# -- the slow lane -------------------------------------------------------------------------

SERVER_FIXTURES = frozenset({"server", "server_url", "server_factory", "module_server"})
"""Fixtures that start a real server: a test that uses one (through other fixtures too) is
in the slow lane."""

_running: list[pytest.Item] = []
_started: dict[str, list[str]] = {}
"""Commands started while a test that is not marked ``slow`` ran, by test id."""
_ORIGINAL_EXECUTE_CHILD = pytest.StashKey[Any]()


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark ``slow`` the tests that use a server fixture."""
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.slow)


def pytest_configure(config: pytest.Config) -> None:
    """Note every process started while a test outside the slow lane runs."""
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> Any:
        if _running and _running[-1].get_closest_marker("slow") is None:
            command = args if isinstance(args, str | bytes) else shlex.join(map(str, args))
            _started.setdefault(_running[-1].nodeid, []).append(str(command)[:200])
        return original(self, args, *rest, **kwargs)

    config.stash[_ORIGINAL_EXECUTE_CHILD] = original
    subprocess.Popen._execute_child = execute_child  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    original = config.stash.get(_ORIGINAL_EXECUTE_CHILD, None)
    if original is not None:
        subprocess.Popen._execute_child = original  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Know which test runs (its fixtures included) when a process starts."""
    _running.append(item)
    try:
        return (yield)
    finally:
        _running.pop()


@pytest.fixture(autouse=True)
def _processes_only_in_the_slow_lane(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test outside the slow lane that started a process (its fixtures included) fails."""
    yield
    started: Sequence[str] = _started.pop(request.node.nodeid, [])
    assert not started, (
        "this test starts processes, so it belongs in the slow lane: mark it "
        "pytest.mark.slow (or use a server fixture). Started: " + "; ".join(started)
    )

"""Fixtures shared by every test package: real local servers over real HTTP.

* ``server_factory`` (function scope): ``server_factory.start(*args, env=None)`` (or just
  ``server_factory(*args, env=None)``) returns a :class:`RunningServer`: it runs
  ``python -m submarine.server --host 127.0.0.1 --port 0 --data-dir <tmp> *args`` in its own
  session, reads the real URL from its stderr and waits for ping. Every server it started
  is stopped at teardown, which asserts that the process exited.
* ``server`` (session scope): one shared :class:`RunningServer`; ``server_url``: its URL.

Helpers: :func:`make_spec` (a small valid spec dict), :func:`unique_name`,
:data:`BLOCKING_CMD` (a replica that stays live until deleted), :func:`gated_cmd` (a replica
that finishes once the test creates a file) and :func:`wait_until` (poll a condition with a
deadline).

A :class:`RunningServer` has ``url``, ``data_dir``, ``workdir`` (the cwd replicas run in),
``process``, ``stop()`` (SIGTERM, wait), ``kill()`` (SIGKILL), ``restart()`` (same data
dir, a new port) and ``log()`` (the stderr text so far, of every start).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

START_TIMEOUT = 30.0
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
def _no_ambient_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SUBMARINE_* client setting of the machine reaches a client made in a test."""
    for name in _CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)


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
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with self._log_path.open("rb") as log:
                log.seek(offset)
                match = _LISTENING.search(log.read().decode("utf-8", "replace"))
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the server exited with {self.process.returncode}:\n{self.log()}"
                )
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"the server did not start in {START_TIMEOUT}s:\n{self.log()}")

    def _wait_for_ping(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                response = httpx.get(f"{self.url}/api/v1/experiment/ping", timeout=5)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not answer ping:\n{self.log()}")
            time.sleep(0.02)

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
        assert not problems, "\n".join(problems)


def with_group_gone(server: RunningServer) -> None:
    """Kill whatever is left in the server's own process group (after a kill -9)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, signal.SIGKILL)


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


# -- helpers shared by the test packages: specs and waiting for a condition --------------

_names = itertools.count()

BLOCKING_CMD = (
    "python -u -c \"import select; print('started'); select.select([], [], [], 60); print('late')\""
)
"""A replica command that prints ``started`` and then blocks for a minute without a shell
and without sleeping in the test: the experiment stays live until the test deletes it."""


def unique_name(prefix: str = "exp") -> str:
    """An experiment name no other test of this session uses."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def make_spec(
    cmd: str = "true",
    *,
    name: str | None = None,
    framework: str = "TensorFlow",
    roles: Mapping[str, int] | None = None,
    resources: str = "cpu=100m,memory=64M",
) -> dict[str, Any]:
    """A small valid spec (a dict, as a user writes it) whose replicas run ``cmd``.

    :param roles: replicas per role; one Worker by default.
    """
    return {
        "meta": {"name": name or unique_name(), "framework": framework, "cmd": cmd},
        "environment": {"image": "local"},
        "spec": {
            role: {"replicas": replicas, "resources": resources}
            for role, replicas in (roles or {"Worker": 1}).items()
        },
    }


T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None], what: str, timeout: float = 30.0, interval: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy and return that; fail after
    ``timeout`` seconds, saying ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def gated_cmd(gate: Path, before: str = "ready", after: str = "done") -> str:
    """A replica command that prints ``before``, waits until the file ``gate`` exists (the
    test creates it; at most a minute), then prints ``after`` and exits 0: the replica
    cannot finish before the test has seen what it needed to. The script is written next
    to ``gate``."""
    script = gate.with_name(gate.name + ".py")
    script.write_text(
        "import os, time\n"
        f"print({before!r}, flush=True)\n"
        "end = time.monotonic() + 60\n"
        f"while not os.path.exists({str(gate)!r}) and time.monotonic() < end:\n"
        "    time.sleep(0.02)\n"
        f"print({after!r}, flush=True)\n"
    )
    return f"python {script}"

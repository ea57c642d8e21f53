"""Shared pieces of the reliability suite: commands, process and fd probes, and the
figures every test reports (written to ``.last_run.json`` and shown after the run).

Sizes: ``SUBMARINE_SOAK_EXPERIMENTS`` (default 2000) sets the soak of the full suite; the
bounded subset that ``make test`` runs uses small fixed sizes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer, ServerFactory

HERE = Path(__file__).parent
PYTHON = shlex.quote(sys.executable)
"""The interpreter, quoted for an experiment command (the server splits it like a shell
would, without running one)."""


def soak_size() -> int:
    """How many experiments the full soak runs (``SUBMARINE_SOAK_EXPERIMENTS``, 2000)."""
    text = os.environ.get("SUBMARINE_SOAK_EXPERIMENTS", "2000")
    if not text.isdigit() or int(text) < 8:
        raise pytest.UsageError(f"SUBMARINE_SOAK_EXPERIMENTS={text!r}: give a whole number >= 8")
    return int(text)


def python_cmd(code: str, *args: str) -> str:
    """An experiment command that runs ``code`` with this interpreter."""
    return " ".join([PYTHON, "-c", shlex.quote(code), *(shlex.quote(a) for a in args)])


def descendants(pid: int) -> list[psutil.Process]:
    """Live (non-zombie) descendants of a process."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    alive = []
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are still running (zombies count as gone)."""
    found = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except psutil.NoSuchProcess:
            continue
    return found


def fd_count(pid: int) -> int:
    """Open file descriptors of a process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    return int(psutil.Process(pid).memory_info().rss)


def count_by_name(client: ExperimentClient, name: str) -> int:
    """How many experiments of this name the server lists (names are stored lower-case)."""
    return sum(1 for e in client.list_experiments() if e.spec and e.spec.meta.name == name.lower())


def _read_only(server: RunningServer) -> sqlite3.Connection:
    path = server.data_dir / "submarine.db"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def stored_names(server: RunningServer) -> dict[str, int]:
    """How many experiments of each name the server's database holds, read straight from
    the SQLite file (not through the HTTP layer under test)."""
    with contextlib.closing(_read_only(server)) as db:
        rows = db.execute("SELECT name, COUNT(*) FROM experiments GROUP BY name").fetchall()
    return {str(name): int(count) for name, count in rows}


def stored_count(server: RunningServer, name: str) -> int:
    """How many experiments of this name the server's database holds."""
    return stored_names(server).get(name.lower(), 0)


def integrity(server: RunningServer) -> str:
    """SQLite's own ``PRAGMA integrity_check`` of the server's database (``"ok"``)."""
    with contextlib.closing(_read_only(server)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


# -- figures -----------------------------------------------------------------------------


class Figures:
    """Numbers tests report: counters that add up over the run, and named values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.values: dict[str, Any] = {}

    def add(self, key: str, amount: int = 1) -> None:
        """Add to a counter."""
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + amount

    def set(self, key: str, value: Any) -> None:
        """Record a value (the last one wins)."""
        with self._lock:
            self.values[key] = value


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    """The figures of this run (see ``.last_run.json`` after it)."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show the figures and keep them in ``tests/reliability/.last_run.json``."""
    if not (_FIGURES.counters or _FIGURES.values):
        return
    data = {"counters": dict(sorted(_FIGURES.counters.items())), "values": _FIGURES.values}
    (HERE / ".last_run.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    terminalreporter.section("reliability figures")
    for key, value in data["counters"].items():
        terminalreporter.write_line(f"{key}: {value}")
    for key, value in sorted(_FIGURES.values.items()):
        terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture
def direct() -> Iterator[Callable[..., ExperimentClient]]:
    """Make clients that talk straight to a server (closed at teardown)."""
    made: list[ExperimentClient] = []

    def factory(url: str, **kwargs: Any) -> ExperimentClient:
        kwargs.setdefault("timeout", 30.0)
        client = ExperimentClient(url, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A local server of this test module alone (replicas get 0.5 s to stop)."""
    factory = ServerFactory(tmp_path_factory.mktemp("reliability"))
    try:
        yield factory.start("--grace-period", "0.5")
    finally:
        factory.close()

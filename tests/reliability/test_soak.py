"""A bounded soak: 8 clients create, follow, wait for and delete short experiments.

Afterwards no replica process is left (psutil), the server's open file descriptors are
back where they started, the database is back near its start size, and the server's
memory is stable. Start and end figures go to ``tests/reliability/.last_soak.json``.

The full suite runs ``SUBMARINE_SOAK_EXPERIMENTS`` experiments (2000 by default); the
bounded subset of ``make test`` runs 100.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
import pytest

from submarine.client import ExperimentClient
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec, wait_until

from .conftest import (
    HERE,
    Figures,
    descendants,
    fd_count,
    python_cmd,
    rss_bytes,
    soak_size,
)

pytestmark = pytest.mark.reliability

CLIENTS = 8
WARMUP = 16
FD_SLACK = 4
"""Descriptors the server may hold more at the end than at the start (idle keep-alives)."""
DB_SLACK = 64 * 1024
WAL_BOUND = 8 * 1024 * 1024
"""SQLite checkpoints its write-ahead log every 1000 pages (4 MB): it must stay bounded."""
RSS_SLACK = 64 * 1024 * 1024
"""How much the server's resident memory may grow over the soak."""


@dataclass
class Tally:
    """What the clients did."""

    done: int = 0
    lines: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _size(server: RunningServer, suffix: str = "") -> int:
    path = server.data_dir / f"submarine.db{suffix}"
    return path.stat().st_size if path.exists() else 0


def _one(client: ExperimentClient, name: str, index: int, tally: Tally) -> None:
    printing = index % 2 == 0
    cmd = python_cmd(f"print({index})") if printing else "true"
    created = client.create_experiment(make_spec(name=name, cmd=cmd))
    followed = list(client.stream_logs(created.experiment_id, polling_interval=1.0))
    log = client.wait_for_finish(
        created.experiment_id, polling_interval=0.5, timeout=120, stream=io.StringIO()
    )
    final = client.get_experiment(created.experiment_id)
    deleted = client.delete_experiment(created.experiment_id)
    lines = [line for _, line in followed]
    problems = []
    if final.status_name != "Succeeded":
        problems.append(f"{name}: {final.status_name}: {[p.lines for p in log.pods]}")
    if printing and lines != [str(index)]:
        problems.append(f"{name}: followed {lines!r}")
    if deleted.status_name != "Deleted":
        problems.append(f"{name}: delete answered {deleted.status_name}")
    with tally.lock:
        tally.done += 1
        tally.lines += len(lines)
        tally.problems.extend(problems)


def _worker(url: str, who: int, indexes: range, tally: Tally) -> None:
    with ExperimentClient(url, timeout=60.0) as client:
        for index in indexes:
            if index % CLIENTS != who:
                continue
            try:
                _one(client, f"soak-{index}", index, tally)
            except Exception as exc:  # recorded: the test fails on any
                with tally.lock:
                    tally.problems.append(f"soak-{index}: {exc!r}")


def _run(url: str, indexes: range) -> Tally:
    tally = Tally()
    threads = [
        threading.Thread(target=_worker, args=(url, who, indexes, tally)) for who in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def _checkpoint(server: RunningServer) -> None:
    """Move what the write-ahead log holds into the database file, so that its size is what
    it stores (the experiments, templates and environments tables), however many pages the
    server's own checkpoints had moved so far."""
    with contextlib.closing(sqlite3.connect(server.data_dir / "submarine.db")) as db:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _settled(server: RunningServer) -> dict[str, Any]:
    """Wait for the server to be idle (no replica left), then measure it."""
    pid = server.process.pid
    wait_until(lambda: not descendants(pid), what="the replicas to exit")
    _checkpoint(server)
    return {
        "rss": rss_bytes(pid),
        "fds": fd_count(pid),
        "db": _size(server),
        "wal": _size(server, "-wal"),
        "children": len(descendants(pid)),
    }


def _soak(server_factory: ServerFactory, figures: Figures, experiments: int, label: str) -> None:
    server = server_factory.start("--grace-period", "0.5")
    warm = _run(server.url, range(-WARMUP, 0))
    assert not warm.problems, warm.problems
    start = _settled(server)
    began = time.monotonic()
    tally = _run(server.url, range(experiments))
    took = time.monotonic() - began
    assert not tally.problems, tally.problems[:10]
    assert tally.done == experiments
    pid = server.process.pid
    # Descriptors of finished requests close a moment after the answers: wait for them.
    with contextlib.suppress(AssertionError):  # reported below with the numbers
        wait_until(lambda: fd_count(pid) <= start["fds"] + FD_SLACK, what="the fds to close")
    end = _settled(server)
    with ExperimentClient(server.url) as client:
        leftovers = client.list_experiments()
    figures_out = {
        "experiments": experiments,
        "clients": CLIENTS,
        "seconds": round(took, 1),
        "experiments_per_second": round(experiments / took, 1),
        "rss_start_mb": round(start["rss"] / 2**20, 1),
        "rss_end_mb": round(end["rss"] / 2**20, 1),
        "fds_start": start["fds"],
        "fds_end": end["fds"],
        "db_start_kb": round(start["db"] / 1024),
        "db_end_kb": round(end["db"] / 1024),
        "wal_start_kb": round(start["wal"] / 1024),
        "wal_end_kb": round(end["wal"] / 1024),
        "processes_left": end["children"],
        "experiments_left": len(leftovers),
        "log_lines_followed": tally.lines,
    }
    print(f"\nsoak ({label}): {json.dumps(figures_out)}")
    record = HERE / ".last_soak.json"
    kept = json.loads(record.read_text()) if record.exists() else {}
    kept[label] = figures_out
    record.write_text(json.dumps(kept, indent=2) + "\n")
    figures.set(f"soak {label}", figures_out)
    figures.add("soak: experiments run", experiments)
    figures.add("processes leaked", end["children"])
    figures.add("fds leaked", max(0, end["fds"] - start["fds"]))
    assert not leftovers, f"{len(leftovers)} experiments were not deleted"
    assert end["children"] == 0
    assert end["fds"] <= start["fds"] + FD_SLACK, f"fds {start['fds']} -> {end['fds']}"
    assert end["db"] <= max(2 * start["db"], start["db"] + DB_SLACK), (
        f"the database grew from {start['db']} to {end['db']} bytes"
    )
    assert end["wal"] <= WAL_BOUND, f"the write-ahead log grew to {end['wal']} bytes"
    assert end["rss"] <= start["rss"] + RSS_SLACK, f"rss {start['rss']} -> {end['rss']}"
    assert psutil.Process(pid).is_running()


@pytest.mark.bounded
def test_soak_bounded(server_factory: ServerFactory, figures: Figures) -> None:
    _soak(server_factory, figures, 100, "bounded")


def test_soak_full(server_factory: ServerFactory, figures: Figures) -> None:
    _soak(server_factory, figures, soak_size(), "full")

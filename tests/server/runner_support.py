"""What the runner's tests share: the real store, probe replicas, waits by condition (specs:
:func:`tests.support.make_spec`)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from submarine.models import ExperimentSpec
from submarine.server.api.wire import stored_spec
from submarine.server.run import podlogs
from submarine.server.run.runner import Runner
from submarine.server.settings import Settings
from submarine.server.store.experiments import ExperimentRecord, Store

PROBE = Path(__file__).with_name("replica_probe.py")
TERMINAL = {"Succeeded", "Failed"}


def probe(*args: str) -> str:
    """The command of a probe replica: ``python replica_probe.py ARGS``."""
    return shlex.join(["python", str(PROBE), *args])


class RecordingStore(Store):
    """The real store, also remembering every status each experiment went through."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.history: dict[str, list[str]] = {}

    def add(self, spec: dict[str, Any]) -> str:
        """Validate and store a spec as Accepted, as the app does on create; return its id."""
        model = ExperimentSpec.model_validate(spec)
        experiment_id = self.next_experiment_id()
        self.insert(
            ExperimentRecord(
                experiment_id=experiment_id,
                uid=str(uuid.uuid4()),
                name=model.meta.name.lower(),
                status="Accepted",
                spec=stored_spec(model, experiment_id),
                accepted_time=datetime.now(timezone.utc),
            )
        )
        self.history[experiment_id] = ["Accepted"]
        return experiment_id

    def set_status(
        self, experiment_id: str, status: str, *, at: datetime, reason: str | None = None
    ) -> None:
        assert at.tzinfo is not None
        super().set_status(experiment_id, status, at=at, reason=reason)
        self.history.setdefault(experiment_id, []).append(status)

    def record(self, experiment_id: str) -> ExperimentRecord:
        """The stored experiment (it must exist)."""
        record = self.get(experiment_id)
        assert record is not None, experiment_id
        return record


@dataclass
class Harness:
    """A runner over the real store, with waits on conditions (never on the clock)."""

    runner: Runner
    store: RecordingStore
    settings: Settings

    def submit(self, spec: dict[str, Any]) -> str:
        """Store a spec as Accepted and hand it to the runner; its id."""
        experiment_id = self.store.add(spec)
        self.runner.submit(experiment_id)
        return experiment_id

    async def delete(self, experiment_id: str) -> None:
        """Delete an experiment as the server does: stop it, forget it, remove its files."""
        await self.runner.stop(experiment_id)
        self.store.delete(experiment_id)
        self.runner.discard_files(experiment_id)

    def status(self, experiment_id: str) -> str:
        return self.store.record(experiment_id).status

    def pod_logs(self, experiment_id: str) -> list[tuple[str, list[str]]]:
        """(pod name, lines so far) of every pod, read as the server reads them."""
        return pod_logs(self.runner, experiment_id)

    async def until(
        self, experiment_id: str, check: Callable[[], bool], what: str, timeout: float = 20
    ) -> None:
        """Wait, woken by the runner's output and status changes, until ``check()`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            remaining = deadline - loop.time()
            if remaining <= 0:
                logs = self.pod_logs(experiment_id)
                raise AssertionError(f"timed out waiting for {what}; logs: {logs}")
            await self.runner.wait_for_change(experiment_id, min(remaining, 1.0))

    async def until_status(self, experiment_id: str, *statuses: str, timeout: float = 20) -> str:
        """Wait until the experiment has one of ``statuses``; return it."""
        wanted = set(statuses) or TERMINAL
        await self.until(
            experiment_id,
            lambda: self.status(experiment_id) in wanted,
            f"{experiment_id} to be {'/'.join(sorted(wanted))} "
            f"(history {self.store.history.get(experiment_id)})",
            timeout,
        )
        return self.status(experiment_id)

    async def until_logged(
        self, experiment_id: str, text: str, *, pods: int = 1, timeout: float = 20
    ) -> None:
        """Wait until ``pods`` pods have a line containing ``text``."""

        def seen() -> bool:
            found = self.pod_logs(experiment_id)
            return sum(any(text in line for line in lines) for _, lines in found) >= pods

        await self.until(experiment_id, seen, f"{pods} pod(s) logging {text!r}", timeout)

    def probes(self, experiment_id: str) -> dict[str, dict[str, Any]]:
        """The PROBE report of every pod that printed one, by pod name."""
        reports = {}
        for name, lines in self.pod_logs(experiment_id):
            for line in lines:
                if line.startswith("PROBE "):
                    reports[name] = json.loads(line[len("PROBE ") :])
        return reports

    def lines(self, experiment_id: str, pod_suffix: str) -> list[str]:
        """The log lines of the pod ``{experimentId}-{pod_suffix}``."""
        logs = dict(self.pod_logs(experiment_id))
        return logs[f"{experiment_id}-{pod_suffix}"]

    def recorded_pids(self, experiment_id: str) -> list[int]:
        """The process groups the runner recorded for an experiment (from its state file)."""
        path = self.settings.data_dir / "experiments" / experiment_id / "state.json"
        state = json.loads(path.read_text())
        return [int(pgid) for pgid, _ in state["groups"].values()]


def pod_logs(runner: Runner, experiment_id: str) -> list[tuple[str, list[str]]]:
    """(pod name, lines so far) of every pod of the experiment, in role order, through the
    runner's pod files (a pod that never started has no lines)."""
    return [(name, podlogs.read_lines(path)) for name, path in runner.pod_files(experiment_id)]


def grandchildren(lines: Iterable[str]) -> list[int]:
    """The pids a probe reported with ``GRANDCHILD <pid>``."""
    return [int(line.split()[1]) for line in lines if line.startswith("GRANDCHILD ")]


def alive(pid: int) -> bool:
    """Whether a process runs (zombies, which only wait to be reaped, do not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group."""
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and alive(proc.pid):
                members.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    return members


@asynccontextmanager
async def harness(tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    """A started runner over the real store; closed on exit.

    Capacity is generous unless overridden (the tests run on small machines), the grace
    period short, and closing the runner stops its experiments (``stop_experiments``: no
    test leaves replicas behind unless it says so).
    """
    defaults: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "workdir": tmp_path,
        "cpus": 64.0,
        "memory_bytes": 1 << 40,
        "gpus": 0,
        "grace_period": 0.5,
        "stop_experiments": True,
    }
    settings = Settings(**{**defaults, **overrides})
    store = RecordingStore(settings.database)
    runner = Runner(store, settings)
    await runner.start()
    try:
        yield Harness(runner, store, settings)
    finally:
        try:
            await runner.close()
        finally:
            store.close()

"""Which experiment runs when: a first-in, first-out queue against the machine's capacity,
and every status change written to the store (and announced to whoever waits for one).

Experiments start strictly in the order they were accepted: the head of the queue starts
when the sum of the requests of the running ones and its own fits the capacity
(:mod:`submarine.server.run.capacity`), and their replicas and its own are no more than the
replica cap (the ``max-replicas`` setting); those behind it wait, even small ones. An
experiment that has to wait says why once in its pods' logs (``waiting in the queue:
needs 4 cpus, 1.5 free; 2 experiments ahead``), and :meth:`Scheduler.queue_reason` says it
at any time. An experiment that can never fit, or whose stored spec no longer validates,
fails at the head with the reason in its pods' logs. GPUs are handed out by index, each to
one replica at a time.

Statuses go Accepted -> Created -> Running -> Succeeded or Failed (:mod:`submarine.server.run.job`
reports the last three).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Protocol

from pydantic import ValidationError

from submarine.models import ExperimentSpec, ExperimentStatus, problems_of
from submarine.server.run import podlogs
from submarine.server.run.capacity import Capacity, Request, request_of
from submarine.server.run.distributed import pod_name, replica_roles, stored_pod_names
from submarine.server.run.job import Job
from submarine.server.run.launcher import Launcher, Pod
from submarine.server.run.layout import JobLayout
from submarine.server.run.local import LocalLauncher
from submarine.server.run.processes import child_environ
from submarine.server.run.pyenv import (
    EnvironmentBuilder,
    EnvironmentLookup,
    Kernel,
    conda_problem,
    kernel_of,
)

__all__ = ["Changes", "LauncherFactory", "RunnerRecord", "RunnerStore", "RunningJob", "Scheduler"]

logger = logging.getLogger(__name__)

_ACCEPTED: Final = ExperimentStatus.ACCEPTED.value
_FAILED: Final = ExperimentStatus.FAILED.value


class RunnerRecord(Protocol):
    """What the runner reads of a stored experiment."""

    experiment_id: str
    status: str
    spec: dict[str, Any]


class RunnerStore(Protocol):
    """The part of the store the runner uses."""

    def get(self, experiment_id: str) -> RunnerRecord | None:
        """The stored experiment, or None."""

    def list(self, status: str | None = None) -> Sequence[RunnerRecord]:
        """Stored experiments, of one status, in accepted order."""

    def set_status(self, experiment_id: str, status: str, *, at: datetime) -> None:
        """Record a status change and its time."""


class RunningJob(Protocol):
    """One experiment's run as the scheduler sees it, whatever backend runs its replicas
    (a :class:`~submarine.server.run.job.Job`, its launcher local processes or a cluster's)."""

    experiment_id: str
    request: Request
    pods: list[Pod]
    waiting: str | None
    """Why the backend has not placed the experiment yet (None once placed)."""

    def stop(self, reason: str) -> None:
        """Stop the replicas and fail the experiment with ``reason`` (returns at once)."""

    def abandon(self) -> None:
        """Stop the replicas and report nothing more (the experiment is being deleted)."""

    async def run(self) -> None:
        """Run the experiment to its end, reporting its statuses."""


LauncherFactory = Callable[[str, ExperimentSpec, list[Pod]], Launcher]
"""Makes the launcher of an experiment's replicas from its id, spec and pods (a backend's)."""


class Changes:
    """A counter per experiment, bumped on every change (status, spec, stop), that waiters
    compare before and after a wait; one event wakes them all."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._changed = asyncio.Event()

    def version(self, experiment_id: str) -> int:
        """How many changes the experiment has seen."""
        return self._versions.get(experiment_id, 0)

    def bump(self, experiment_id: str) -> None:
        """Count a change of the experiment and wake every waiter."""
        self._versions[experiment_id] = self.version(experiment_id) + 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a change of any experiment."""
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except asyncio.TimeoutError:
            return


class Scheduler:
    """Runs queued experiments first in, first out, while they fit the machine.

    Args:
        store: where experiments and their statuses are stored.
        capacity: what the machine has.
        layout: where experiments' files go.
        workdir: the working directory of replicas without synced code.
        grace: seconds between SIGTERM and SIGKILL when stopping replicas.
        changes: told of every status change.
        max_replicas: replica processes run at once over all experiments.
        secrets: the server's own secrets, kept from replicas.
        make_launcher: makes the launcher of an experiment's replicas on a backend other
            than local processes (default: a
            :class:`~submarine.server.run.local.LocalLauncher`); every experiment runs as one
            :class:`~submarine.server.run.job.Job`, whatever launches its replicas.
        gated: whether experiments wait for ``capacity`` here; a backend that places
            replicas itself (a Ray cluster) starts every experiment at once and keeps it
            Accepted until it is placed. Ungated, no GPU indices are handed out.
        environments: where the environments that experiments name are found; an
            experiment whose environment lists packages runs in a virtual environment
            with them, made by ``builder`` (local processes only).
        builder: makes the virtual environments of environments.
    """

    def __init__(
        self,
        store: RunnerStore,
        capacity: Capacity,
        layout: JobLayout,
        *,
        workdir: Path,
        grace: float,
        changes: Changes,
        max_replicas: int,
        secrets: Sequence[str] = (),
        replica_env: Callable[[str], Mapping[str, str]] | None = None,
        make_launcher: LauncherFactory | None = None,
        gated: bool = True,
        environments: EnvironmentLookup | None = None,
        builder: EnvironmentBuilder | None = None,
    ) -> None:
        self._store = store
        self._environments = environments
        self._builder = builder
        self._make_launcher = make_launcher
        self._gated = gated
        self._max_replicas = max_replicas
        self._secrets = tuple(secrets)
        self._capacity = capacity
        self._layout = layout
        self._workdir = workdir
        self._grace = grace
        self._changes = changes
        self._replica_env = replica_env
        self._queue: deque[str] = deque()
        self._jobs: dict[str, RunningJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._noted: set[str] = set()
        self._open = False

    def open(self) -> None:
        """Start scheduling (what was queued before starts now, if it fits)."""
        self._open = True
        self.schedule()
        for experiment_id in list(self._queue):
            self._note_waiting(experiment_id)

    def submit(self, experiment_id: str) -> None:
        """Queue a stored Accepted experiment at the end (once) and start what fits; one
        that has to wait gets a line saying why in its pods' logs."""
        if experiment_id not in self._queue and experiment_id not in self._jobs:
            self._queue.append(experiment_id)
        self.schedule()
        self._note_waiting(experiment_id)

    def problem(self, spec: ExperimentSpec) -> str | None:
        """Why ``spec`` can never run here (its need and the capacity, or its replicas and
        the replica cap), or None."""
        replicas = request_of(spec)
        problems = []
        total = Request.total(r for _, _, r in replicas)
        capacity = self._capacity.problem(total) if self._gated else None
        if capacity is not None:
            problems.append(capacity)
        count = len(replicas)
        if count > self._max_replicas:
            problems.append(
                f"has {count} replicas but this server runs at most {self._max_replicas} at "
                "once (override it with the max-replicas setting)"
            )
        return "; ".join(problems) or None

    def queue_reason(self, experiment_id: str) -> str | None:
        """What a queued experiment waits for, like ``needs 4 cpus, 1.5 free; 2 experiments
        ahead``; None for one that is not queued."""
        if experiment_id not in self._queue:
            return None
        position = self._queue.index(experiment_id)
        record = self._store.get(experiment_id)
        reasons = []
        try:
            spec = ExperimentSpec.model_validate(record.spec) if record is not None else None
        except ValidationError:
            spec = None
        if spec is not None:
            reasons.extend(self._shortfalls(spec))
        if position:
            reasons.append(f"{position} experiment{'s' if position > 1 else ''} ahead")
        if not self._open:
            reasons.append("the server is starting")
        return "; ".join(reasons) or "it starts now"

    def _shortfalls(self, spec: ExperimentSpec) -> list[str]:
        """What ``spec`` needs that the running experiments leave too little of (nothing:
        it fits)."""
        found = []
        if self._gated:
            request = Request.total(r for _, _, r in request_of(spec))
            found = self._capacity.shortfalls(request, self._in_use())
        return found + self._replica_shortfall(spec)

    def _replica_shortfall(self, spec: ExperimentSpec) -> list[str]:
        """Whether ``spec``'s replicas exceed what the replica cap leaves."""
        found = []
        replicas = len(request_of(spec))
        free_replicas = self._max_replicas - self._replicas_in_use()
        if replicas > free_replicas:
            found.append(
                f"needs {replicas} replicas, {max(0, free_replicas)} free "
                f"(at most {self._max_replicas} run at once)"
            )
        return found

    def usage(self) -> tuple[Request, int, int]:
        """What the running experiments ask for in all, how many run and how many wait."""
        return self._in_use(), len(self._jobs), len(self._queue)

    def _in_use(self) -> Request:
        return Request.total(job.request for job in self._jobs.values())

    def _replicas_in_use(self) -> int:
        return sum(len(job.pods) for job in self._jobs.values())

    def _note_waiting(self, experiment_id: str) -> None:
        """Say once, in the server's log and the pods' logs, why a queued experiment waits."""
        if experiment_id in self._noted or not self._open:
            return
        reason = self.queue_reason(experiment_id)
        if reason is None:
            return
        self._noted.add(experiment_id)
        logger.info("experiment %s waits in the queue: %s", experiment_id, reason)
        for _, path in self.pod_files(experiment_id):
            podlogs.append_reason(path, f"waiting in the queue: {reason}")

    def withdraw(self, experiment_id: str) -> None:
        """Take an experiment off the queue (nothing happens if it is not queued)."""
        if experiment_id in self._queue:
            self._queue.remove(experiment_id)
        self._noted.discard(experiment_id)

    def running(self, experiment_id: str) -> RunningJob | None:
        """The experiment's job while it runs (from its start until its processes are gone)."""
        return self._jobs.get(experiment_id)

    async def finished(self, experiment_id: str) -> None:
        """Wait until the experiment's job (if it runs) is over."""
        task = self._tasks.get(experiment_id)
        if task is not None:
            await asyncio.shield(task)

    async def close(self, reason: str) -> None:
        """Start nothing more; stop every running job with ``reason`` and wait for them.
        Queued experiments stay Accepted."""
        self._open = False
        for job in list(self._jobs.values()):
            job.stop(reason)
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def set_status(self, experiment_id: str, status: str) -> None:
        """Write a status change (now) to the store, unless the experiment is gone, and
        announce it."""
        if self._store.get(experiment_id) is not None:
            self._store.set_status(
                experiment_id, status, at=datetime.now(timezone.utc).astimezone()
            )
        self._changes.bump(experiment_id)

    def pod_files(
        self, experiment_id: str, record: RunnerRecord | None = None
    ) -> list[tuple[str, Path]]:
        """(pod name, log file) of every pod: those that run or ran, else those the stored
        spec (``record``, or the one in the store) names."""
        job = self._jobs.get(experiment_id)
        if job is not None:
            return [(pod.name, pod.log) for pod in job.pods]
        names: Sequence[str] | None = self._layout.read_state(experiment_id).pods
        if names is None:
            record = record or self._store.get(experiment_id)
            names = stored_pod_names(experiment_id, record.spec) if record is not None else []
        return [(name, self._layout.log_path(experiment_id, name)) for name in names]

    def fail_unstarted(self, experiment_id: str, reason: str) -> None:
        """Fail an experiment that never ran, with the reason in its pods' logs."""
        record = self._store.get(experiment_id)
        for _, path in self.pod_files(experiment_id, record):
            podlogs.append_reason(path, f"{reason}; the experiment failed")
        logger.warning("experiment %s failed: %s", experiment_id, reason)
        self.set_status(experiment_id, _FAILED)

    # -- starting -----------------------------------------------------------------

    def schedule(self) -> None:
        """Start queued experiments, strictly in order, while the head fits."""
        if not self._open:
            return
        while self._queue:
            experiment_id = self._queue[0]
            record = self._store.get(experiment_id)
            if record is None or record.status != _ACCEPTED or experiment_id in self._jobs:
                self._queue.popleft()
                self._noted.discard(experiment_id)
                continue
            try:
                spec = ExperimentSpec.model_validate(record.spec)
            except ValidationError as exc:
                self._queue.popleft()
                self._noted.discard(experiment_id)
                problems = "; ".join(str(p) for p in problems_of(exc))
                self.fail_unstarted(experiment_id, f"the stored spec is invalid: {problems}")
                continue
            request = Request.total(r for _, _, r in request_of(spec))
            problem = self.problem(spec)
            if problem is not None:
                self._queue.popleft()
                self._noted.discard(experiment_id)
                self.fail_unstarted(experiment_id, f"cannot run here: it {problem}")
                continue
            if self._shortfalls(spec):  # it does not fit yet
                return
            self._queue.popleft()
            self._noted.discard(experiment_id)
            kernel, why = self._kernel(spec)
            if why is not None:
                self.fail_unstarted(experiment_id, f"cannot start: {why}")
                continue
            self._start(self._new_job(experiment_id, spec, request, kernel))

    def _kernel(self, spec: ExperimentSpec) -> tuple[Kernel | None, str | None]:
        """The packages of the experiment's named environment (None: nothing to install),
        or why it cannot start with them."""
        name = spec.environment.name
        if name is None or self._environments is None:
            return None, None
        stored = self._environments.get(name)
        if stored is None:
            return None, (
                f"environment {name!r} no longer exists (it was deleted after the experiment "
                "was created): create it again, or patch the experiment to leave "
                "environment.name out"
            )
        kernel = kernel_of(name, stored.spec)
        if not kernel.installs:
            return None, None
        if self._make_launcher is not None:
            return None, (
                f"environment {name!r} lists packages to install, which only the local "
                "backend installs: install them on every node of the cluster and leave "
                "environment.name out"
            )
        return kernel, conda_problem(kernel, child_environ(self._secrets))

    def _start(self, job: RunningJob) -> None:
        self._jobs[job.experiment_id] = job
        self._tasks[job.experiment_id] = asyncio.get_running_loop().create_task(
            self._run(job), name=f"submarine-runner-{job.experiment_id}"
        )

    async def _run(self, job: RunningJob) -> None:
        try:
            await job.run()
        finally:
            self._jobs.pop(job.experiment_id, None)
            self._tasks.pop(job.experiment_id, None)
            self._changes.bump(job.experiment_id)
            self.schedule()

    def _new_job(
        self, experiment_id: str, spec: ExperimentSpec, request: Request, kernel: Kernel | None
    ) -> RunningJob:
        used = {g for job in self._jobs.values() for pod in job.pods for g in pod.gpus}
        free = [g for g in range(self._capacity.gpus) if g not in used] if self._gated else []
        pods = []
        for role, index, pod_request in sorted(request_of(spec), key=_role_order(spec)):
            name = pod_name(experiment_id, role, index)
            gpus, free = free[: pod_request.gpus], free[pod_request.gpus :]
            log = self._layout.log_path(experiment_id, name)
            pods.append(Pod(name, role, index, log, gpus))
        launcher: Launcher
        if self._make_launcher is not None:
            launcher = self._make_launcher(experiment_id, spec, pods)
        else:
            launcher = LocalLauncher(
                experiment_id,
                spec,
                pods,
                layout=self._layout,
                workdir=self._workdir,
                grace=self._grace,
                secrets=self._secrets,
                kernel=kernel,
                builder=self._builder,
            )
        return Job(
            experiment_id,
            spec,
            request,
            pods,
            launcher=launcher,
            layout=self._layout,
            report=self.set_status,
            replica_env=self._replica_env,
        )


def _role_order(spec: ExperimentSpec) -> Callable[[tuple[str, int, Request]], tuple[int, int]]:
    """Sort key of ``request_of`` items: the framework's role order, then the index."""
    rank = {role: i for i, (role, _) in enumerate(replica_roles(spec))}
    return lambda item: (rank.get(item[0], len(rank)), item[1])

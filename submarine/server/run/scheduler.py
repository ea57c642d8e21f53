"""Which experiment runs when: a queue that backfills the machine's capacity, and every
status change written to the store (and announced to whoever waits for one).

An experiment fits when the requests of the running ones and its own fit the capacity
(:mod:`submarine.server.run.capacity`) and the replica cap (``max-replicas``); queued ones
start oldest first, backfilled up to the window (:mod:`submarine.server.run.backfill`).
One that has to wait says why once in its pods' logs (``waiting in the queue: needs 4
cpus, 1.5 free; 2 experiments ahead``), and :meth:`Scheduler.queue_reason` at any time; one
that can never fit, or whose stored spec no longer validates, fails with the reason. GPUs
are handed out by index, each to one replica at a time. A backend that places replicas
itself (a Ray cluster) is handed every experiment at once; one it has not placed after the
window holds back the newer ones: not handed over, or taken back until it is placed.

Statuses go Accepted -> Created -> Running -> Succeeded or Failed (the last three from
:mod:`.job`, a failure with its reason). Running experiments are left running when the
server stops (:meth:`Scheduler.close`); the next start adopts them (:meth:`Scheduler.adopt`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from submarine.models import ExperimentSpec, ExperimentStatus, problems_of
from submarine.server.run import podlogs
from submarine.server.run.backfill import BackfillQueue, Waiting
from submarine.server.run.capacity import Capacity, Request, request_of
from submarine.server.run.distributed import stored_pod_names
from submarine.server.run.job import Job
from submarine.server.run.launcher import Launcher, Pod
from submarine.server.run.layout import JobLayout
from submarine.server.run.local import LocalLauncher
from submarine.server.run.pods import pods_of, recorded_pods, recorded_request
from submarine.server.run.processes import child_environ
from submarine.server.run.protocols import LauncherFactory, RunnerRecord, RunnerStore, RunningJob
from submarine.server.run.pyenv import (
    EnvironmentBuilder,
    EnvironmentLookup,
    Kernel,
    conda_problem,
    kernel_of,
)
from submarine.server.run.watch import Changes

__all__ = ["Scheduler"]

logger = logging.getLogger(__name__)

_ACCEPTED: Final = ExperimentStatus.ACCEPTED.value
_CREATED: Final = ExperimentStatus.CREATED.value
_RUNNING: Final = ExperimentStatus.RUNNING.value
_FAILED: Final = ExperimentStatus.FAILED.value


class Scheduler:
    """Runs queued experiments while they fit the machine, backfilling it (see the module).

    Args:
        store: where experiments and their statuses are stored.
        capacity: what the machine has.
        layout: where experiments' files go.
        workdir: the working directory of replicas without synced code.
        grace: seconds between SIGTERM and SIGKILL when stopping replicas.
        changes: told of every status change.
        max_replicas: replica processes run at once over all experiments.
        secrets: the server's own secrets, kept from replicas.
        window: seconds after which a queued experiment is no longer overtaken.
        make_launcher: makes the launcher of an experiment's replicas on a backend other
            than local processes (default: a
            :class:`~submarine.server.run.local.LocalLauncher`); every experiment runs as one
            :class:`~submarine.server.run.job.Job`, whatever launches its replicas.
        gated: whether experiments wait for ``capacity`` here; a backend that places
            replicas itself (a Ray cluster) is handed every experiment at once and keeps it
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
        window: float = 600.0,
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
        self._queue = BackfillQueue(window)
        self._doomed: dict[str, str] = {}
        """Queued experiments that can never start, and why (they fail when scheduled)."""
        self._jobs: dict[str, RunningJob] = {}
        self._since: dict[str, float] = {}
        """When each running job's experiment was accepted (seconds since the epoch)."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._taken_back: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._noted: set[str] = set()
        self._open = False

    def open(self) -> None:
        """Start scheduling (what was queued before starts now, if it fits)."""
        self._open = True
        self.schedule()
        for experiment_id in self._queue.ids():
            self._note_waiting(experiment_id)

    def submit(self, experiment_id: str) -> None:
        """Queue a stored Accepted experiment (once) and start what fits; one that has to
        wait gets a line saying why in its pods' logs."""
        if experiment_id not in self._queue and experiment_id not in self._jobs:
            self._enqueue(experiment_id)
        self.schedule()
        self._note_waiting(experiment_id)

    def spec_changed(self, experiment_id: str) -> None:
        """Take note of a queued experiment's new spec (what it asks for may have changed)."""
        if experiment_id in self._queue:
            self._queue.remove(experiment_id)
            self._enqueue(experiment_id)
        self.schedule()

    def _enqueue(self, experiment_id: str) -> None:
        """Read the stored experiment and queue it, or note why it can never start."""
        record = self._store.get(experiment_id)
        if record is None or record.status != _ACCEPTED:
            return
        try:
            spec = ExperimentSpec.model_validate(record.spec)
        except ValidationError as exc:
            problems = "; ".join(str(p) for p in problems_of(exc))
            self._doomed[experiment_id] = f"the stored spec is invalid: {problems}"
            return
        problem = self.problem(spec)
        if problem is not None:
            self._doomed[experiment_id] = f"cannot run here: it {problem}"
            return
        requests = request_of(spec)
        self._queue.add(
            Waiting(
                experiment_id,
                Request.total(r for _, _, r in requests),
                len(requests),
                record.accepted_time.timestamp(),
            )
        )

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
        return self.queue_reasons().get(experiment_id)

    def queue_reasons(self) -> dict[str, str]:
        """What every queued experiment waits for (see :meth:`queue_reason`), by id."""
        now = time.time()
        held = self._held_by(now)
        return {
            item.experiment_id: self._reason(item, position, held, now)
            for position, item in enumerate(self._queue.items())
        }

    def _reason(self, item: Waiting, position: int, held: str | None, now: float) -> str:
        return self._queue.reason(
            item, self._shortfalls(item), position, held, now, starting=not self._open
        )

    def _shortfalls(self, item: Waiting) -> list[str]:
        """What a queued experiment needs that the running ones leave too little of
        (nothing: it fits): capacity (here only when gated) and the replica cap."""
        found = self._capacity.shortfalls(item.request, self._in_use()) if self._gated else []
        free_replicas = self._max_replicas - self._replicas_in_use()
        if item.replicas > free_replicas:
            found.append(
                f"needs {item.replicas} replicas, {max(0, free_replicas)} free "
                f"(at most {self._max_replicas} run at once)"
            )
        return found

    def _fits(self, item: Waiting) -> bool:
        return not self._shortfalls(item)

    def usage(self) -> tuple[Request, int, int]:
        """What the running experiments ask for in all, how many run and how many wait."""
        return self._in_use(), len(self._jobs), len(self._queue)

    def _in_use(self) -> Request:
        return Request.total(job.request for job in self._jobs.values())

    def _replicas_in_use(self) -> int:
        return sum(len(job.pods) for job in self._jobs.values())

    def _held_by(self, now: float) -> str | None:
        """The experiment that holds the queue back now, having waited over the window: a
        queued one that does not fit, or one a backend has not placed yet."""
        blocker = self._queue.blocker(self._fits, now)
        return blocker.experiment_id if blocker is not None else self._unplaced_overdue(now)

    def _unplaced(self) -> list[tuple[float, str]]:
        """(accepted, id) of the started experiments a backend has not placed yet, oldest
        first."""
        waiting = [(self._since.get(i, 0.0), i) for i, j in self._jobs.items() if j.waiting]
        return sorted(waiting)

    def unplaced(self) -> list[str]:
        """The started experiments that their backend has not placed yet, oldest first."""
        return [experiment_id for _, experiment_id in self._unplaced()]

    def _unplaced_overdue(self, now: float) -> str | None:
        for since, experiment_id in self._unplaced():
            if now - since >= self._queue.window:
                return experiment_id
        return None

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
        self._queue.remove(experiment_id)
        self._doomed.pop(experiment_id, None)
        self._taken_back.discard(experiment_id)
        self._noted.discard(experiment_id)

    def running(self, experiment_id: str) -> RunningJob | None:
        """The experiment's job while it runs (from its start until its processes are gone)."""
        return self._jobs.get(experiment_id)

    async def finished(self, experiment_id: str) -> None:
        """Wait until the experiment's job (if it runs) is over."""
        task = self._tasks.get(experiment_id)
        if task is not None:
            await asyncio.shield(task)

    async def close(self, reason: str, *, leave: bool = False) -> list[RunningJob]:
        """Start nothing more and end every running job: leave it running (``leave``), or
        stop it and fail its experiment with ``reason``; wait for them. Queued experiments
        stay Accepted. The jobs left with their replicas running."""
        self._open = False
        if self._timer is not None:
            self._timer.cancel()
        jobs = list(self._jobs.values())
        for job in jobs:
            if leave:
                job.leave()
            else:
                job.stop(reason)
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return [job for job in jobs if job.left]

    def set_status(self, experiment_id: str, status: str, reason: str | None = None) -> None:
        """Write a status change (now, with the reason of a failure) to the store, unless
        the experiment is gone, and announce it."""
        if self._store.get(experiment_id) is not None:
            at = datetime.now(timezone.utc).astimezone()
            self._store.set_status(experiment_id, status, at=at, reason=reason)
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
        self.set_status(experiment_id, _FAILED, reason)

    # -- starting -----------------------------------------------------------------

    def schedule(self) -> None:
        """Fail what can never start; start every queued experiment that fits, oldest
        first, up to one that waited over the window; ungated, take back what a backend
        has not placed and is newer than one it has not placed for over the window."""
        if not self._open:
            return
        for experiment_id, reason in list(self._doomed.items()):
            del self._doomed[experiment_id]
            self._noted.discard(experiment_id)
            self.fail_unstarted(experiment_id, reason)
        now = time.time()
        overdue = self._unplaced_overdue(now)
        if overdue is not None:
            self._take_back_after(self._since[overdue])
        else:
            for item in self._queue.startable(self._fits, now):
                self.withdraw(item.experiment_id)
                self._start_queued(item)
        self._arm_timer(now)

    def _start_queued(self, item: Waiting) -> None:
        experiment_id = item.experiment_id
        record = self._store.get(experiment_id)
        if record is None or record.status != _ACCEPTED or experiment_id in self._jobs:
            return
        try:
            spec = ExperimentSpec.model_validate(record.spec)
        except ValidationError as exc:  # validated when queued; a patch re-queues it
            problems = "; ".join(str(p) for p in problems_of(exc))
            self.fail_unstarted(experiment_id, f"the stored spec is invalid: {problems}")
            return
        kernel, why = self._kernel(spec)
        if why is not None:
            self.fail_unstarted(experiment_id, f"cannot start: {why}")
            return
        self._since[experiment_id] = item.accepted
        used = {g for job in self._jobs.values() for pod in job.pods for g in pod.gpus}
        free = [g for g in range(self._capacity.gpus) if g not in used] if self._gated else []
        pods = pods_of(self._layout, experiment_id, spec, free)
        self._start(self._job(experiment_id, spec, item.request, pods, kernel=kernel))

    def _take_back_after(self, since: float) -> None:
        """Take back the experiments a backend has not placed that were accepted after
        ``since``: they are queued again once their jobs have let go."""
        for accepted, experiment_id in self._unplaced():
            if accepted > since and experiment_id not in self._taken_back:
                logger.info(
                    "experiment %s goes back to the queue: an older one waits", experiment_id
                )
                self._taken_back.add(experiment_id)
                self._jobs[experiment_id].leave()

    def _arm_timer(self, now: float) -> None:
        """Ungated, look again when the oldest experiment not placed reaches the window."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = [since + self._queue.window for since, _ in self._unplaced()]
        due = [moment for moment in due if moment > now]
        if due:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(min(due) - now, self.schedule)

    def adopt(self, record: RunnerRecord, spec: ExperimentSpec) -> None:
        """Take over an experiment that the server's last start left Created or Running:
        its job finds its replicas again (from the state file) and goes on supervising
        them, counted against the capacity as before."""
        experiment_id = record.experiment_id
        state = self._layout.read_state(experiment_id)
        pods = recorded_pods(self._layout, experiment_id, spec, state)
        request = recorded_request(spec, state)
        if record.status == _CREATED:  # Running is reported right after Created
            self.set_status(experiment_id, _RUNNING)
        self._since[experiment_id] = record.accepted_time.timestamp()
        self._start(self._job(experiment_id, spec, request, pods, adopting=True))

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
        experiment_id = job.experiment_id
        try:
            await job.run()
        finally:
            self._jobs.pop(experiment_id, None)
            self._tasks.pop(experiment_id, None)
            self._since.pop(experiment_id, None)
            if experiment_id in self._taken_back:
                self._taken_back.discard(experiment_id)
                if self._open:
                    self._enqueue(experiment_id)
            self._changes.bump(experiment_id)
            self.schedule()

    def _job(
        self,
        experiment_id: str,
        spec: ExperimentSpec,
        request: Request,
        pods: list[Pod],
        *,
        kernel: Kernel | None = None,
        adopting: bool = False,
    ) -> RunningJob:
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
            adopting=adopting,
            on_wait=self.schedule,
        )

"""Runs the local server's experiments as local processes, one process group per replica.

:class:`Runner` is what the HTTP layer talks to. Behind it:

* :mod:`~submarine.server.run.scheduler` queues experiments against the machine's capacity,
  backfilling it (:mod:`~submarine.server.run.backfill`), and writes every status change to
  the store;
* :mod:`~submarine.server.run.job` runs one experiment, whatever its backend: starts its
  replicas with their framework's environment, applies the success policy, stops what is
  left, says why in the pod logs;
* :mod:`~submarine.server.run.local` launches the replicas as local process groups (and
  clones the code first), each under a supervisor that outlives the server
  (:mod:`~submarine.server.run.supervised`); :mod:`~submarine.server.run.processes` finds,
  waits for and signals processes;
* :mod:`~submarine.server.run.layout` says where an experiment's files live
  (``data_dir/experiments/<experiment id>/``) and keeps the state file that lets the next
  start find the replicas again;
* :mod:`~submarine.server.run.podlogs` reads pod logs, whole or by cursor;
* :mod:`~submarine.server.run.backend` chooses where replicas run: local processes (the
  default), or a Ray cluster (``--backend ray``, :mod:`submarine.server.run.raybackend`), where
  experiments wait, Accepted, until Ray places them.

Stopping the server leaves running experiments running (unless ``stop-experiments``); the
next start on the same data dir adopts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, Protocol

from pydantic import ValidationError

from submarine.models import ExperimentSpec, ExperimentStatus, problems_of
from submarine.server.run import podlogs
from submarine.server.run.backend import Backend, load_backend
from submarine.server.run.capacity import Capacity, Request, detect_capacity
from submarine.server.run.layout import JobLayout
from submarine.server.run.local import family_of
from submarine.server.run.podlogs import ChunkPlan, LogChunk
from submarine.server.run.protocols import RunnerRecord, RunnerStore, RunningJob
from submarine.server.run.pyenv import EnvironmentBuilder, EnvironmentLookup
from submarine.server.run.scheduler import Scheduler
from submarine.server.run.watch import Changes, Watch

__all__ = ["ChunkPlan", "LogChunk", "Runner", "RunnerRecord", "RunnerSettings", "RunnerStore"]

logger = logging.getLogger(__name__)

_ACCEPTED: Final = ExperimentStatus.ACCEPTED.value
_FINAL: Final = frozenset(
    {
        ExperimentStatus.SUCCEEDED.value,
        ExperimentStatus.FAILED.value,
        ExperimentStatus.DELETED.value,
    }
)
_INTERRUPTED: Final = (ExperimentStatus.CREATED.value, ExperimentStatus.RUNNING.value)


class RunnerSettings(Protocol):
    """The part of the server settings the runner uses."""

    @property
    def data_dir(self) -> Path:
        """Where experiments' files live."""

    @property
    def workdir(self) -> Path:
        """The working directory of replicas without synced code."""

    @property
    def cpus(self) -> float | None:
        """CPU capacity override."""

    @property
    def memory_bytes(self) -> int | None:
        """Memory capacity override."""

    @property
    def gpus(self) -> int | None:
        """GPU capacity override."""

    @property
    def grace_period(self) -> float:
        """Seconds between SIGTERM and SIGKILL."""

    @property
    def max_replicas(self) -> int:
        """Replica processes run at once over all experiments."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """The server's own secrets, which no replica may inherit."""

    @property
    def stop_experiments(self) -> bool:
        """Whether stopping the server stops its experiments (else they run on)."""

    @property
    def backfill_window(self) -> float:
        """Seconds after which a queued experiment is no longer overtaken."""


class Runner:
    """Supervises the replica processes of the local server's experiments.

    One instance per server, used from its asyncio loop (``pod_files``, ``read_chunk`` and
    ``plan_chunk`` may also be called from worker threads). It owns an experiment from the
    moment the store holds it as Accepted and :meth:`submit` is called, and writes every
    status change to the store: Accepted -> Created -> Running -> Succeeded or Failed (with
    the reason). Experiments that run when it closes are left running, unless the settings
    say ``stop_experiments``, and the next start adopts them.

    >>> runner = Runner(store, settings)          # doctest: +SKIP
    >>> await runner.start()                      # doctest: +SKIP
    >>> runner.submit("experiment-1700000000000-0001")  # doctest: +SKIP

    Args:
        store: the experiments' storage (see :class:`RunnerStore`).
        settings: data dir, working dir, capacity overrides and grace period (see
            :class:`RunnerSettings`).
        replica_env: more environment for every replica, by experiment id (tracking).
        environments: the environments that experiments name (their packages are installed
            in virtual environments under ``data_dir/environments``).
    """

    def __init__(
        self,
        store: RunnerStore,
        settings: RunnerSettings,
        replica_env: Callable[[str], Mapping[str, str]] | None = None,
        environments: EnvironmentLookup | None = None,
    ) -> None:
        self._store = store
        self._grace = settings.grace_period
        self._stop_experiments = settings.stop_experiments
        self._data_dir = Path(settings.data_dir)
        self._layout = JobLayout(Path(settings.data_dir))
        self._capacity = detect_capacity(settings.cpus, settings.memory_bytes, settings.gpus)
        self._changes = Changes()
        self._watch = Watch(self._changes)
        self._backend: Backend | None = load_backend(settings, layout=self._layout)
        self._scheduler = Scheduler(
            store,
            self._capacity,
            self._layout,
            workdir=Path(settings.workdir),
            grace=settings.grace_period,
            changes=self._changes,
            max_replicas=settings.max_replicas,
            secrets=settings.secrets,
            window=settings.backfill_window,
            replica_env=replica_env,
            make_launcher=self._backend.make_launcher if self._backend is not None else None,
            gated=self._backend is None,
            environments=environments,
            builder=EnvironmentBuilder(Path(settings.data_dir) / "environments"),
        )

    @property
    def capacity(self) -> Capacity:
        """The machine's capacity the runner schedules against."""
        return self._capacity

    async def start(self) -> None:
        """Adopt what the last start left running, then start queued experiments.

        Experiments left Created or Running are adopted: their replicas are found again
        and supervised as before (one that is gone without an exit code fails its
        experiment with the reason; one whose stored spec no longer validates has its
        replicas stopped and fails). Accepted ones are queued again, in accepted order,
        from a clean directory. A cluster backend connects first and removes what the
        last start left on the cluster but the adopted experiments' replicas.
        """
        self._layout.root.mkdir(parents=True, exist_ok=True)
        interrupted = [r for status in _INTERRUPTED for r in self._store.list(status)]
        if self._backend is not None:
            await self._backend.start(keep={r.experiment_id for r in interrupted})
        for record in sorted(interrupted, key=lambda r: r.accepted_time):
            try:
                spec = ExperimentSpec.model_validate(record.spec)
            except ValidationError as exc:
                problems = "; ".join(str(p) for p in problems_of(exc))
                await self._recover(record, f"its stored spec is invalid: {problems}")
                continue
            self._scheduler.adopt(record, spec)
        for record in self._store.list(_ACCEPTED):
            await self._terminate_recorded(record.experiment_id)
            self._layout.discard(record.experiment_id)
            self._scheduler.submit(record.experiment_id)
        self._scheduler.open()

    def usage(self) -> tuple[Request, int, int]:
        """What the running experiments ask for in all (cpus, memory, gpus), how many run
        and how many wait in the queue."""
        return self._scheduler.usage()

    def capacity_problem(self, spec: ExperimentSpec) -> str | None:
        """Why ``spec`` can never run on this machine (its need and the capacity, or more
        replicas than the replica cap), or None.

        Check it on create and on patch: a queued experiment patched to need more than the
        machine has is failed with this reason when it reaches the head of the queue.
        """
        return self._scheduler.problem(spec)

    def waiting_reason(self, experiment_id: str) -> str | None:
        """Why an Accepted experiment waits, in one line (``waiting in the queue: needs 4
        cpus, 1.5 free; 2 experiments ahead``, or what keeps its backend from placing it);
        None when it does not wait."""
        reason = self._scheduler.queue_reason(experiment_id)
        if reason is not None:
            return f"waiting in the queue: {reason}"
        job = self._scheduler.running(experiment_id)
        if job is not None and job.waiting is not None and self._backend is not None:
            return f"waiting for the cluster: {job.waiting}"
        return None

    def waiting_reasons(self) -> dict[str, str]:
        """:meth:`waiting_reason` of every experiment that waits, by id (at once)."""
        found = {
            i: f"waiting in the queue: {r}" for i, r in self._scheduler.queue_reasons().items()
        }
        for experiment_id in self._scheduler.unplaced():
            found.setdefault(experiment_id, self.waiting_reason(experiment_id) or "")
        return found

    def queue_reason(self, experiment_id: str) -> str | None:
        """What a queued (Accepted) experiment waits for, like ``needs 4 cpus, 1.5 free;
        2 experiments ahead``; None when it is not in the queue (started, finished, gone).

        Pods' logs get the reason once, when the experiment first has to wait; this is the
        reason now.
        """
        reason = self._scheduler.queue_reason(experiment_id)
        if reason is None:  # started: a backend that places replicas itself may still wait
            job = self._scheduler.running(experiment_id)
            return job.waiting if job is not None else None
        return reason

    def submit(self, experiment_id: str) -> None:
        """Queue a stored Accepted experiment (first in, first out); returns at once.

        The spec is read from the store when the experiment starts. It must keep the git
        credentials (``code.git.password``, a ``user:password@`` in ``code.git.url``): the
        clone needs them. Payloads hide them (:func:`submarine.server.scrub.strip_credentials`
        splits a URL).
        """
        self._scheduler.submit(experiment_id)

    def spec_changed(self, experiment_id: str) -> None:
        """Take note of a patched spec.

        A queued experiment starts with the new spec (it is read when the experiment
        starts). A running one keeps its replicas as they are: the new spec is stored but
        takes effect only if the experiment is run again.
        """
        self._changes.bump(experiment_id)
        self._scheduler.spec_changed(experiment_id)

    async def stop(self, experiment_id: str) -> None:
        """Stop the experiment for good: take it off the queue, stop its processes (SIGTERM,
        SIGKILL after the grace period) and return when none is left.

        Writes no status (the caller deletes the record). Files stay until
        :meth:`discard_files`. Stopping an experiment that is not running is harmless.
        """
        self._scheduler.withdraw(experiment_id)
        job = self._scheduler.running(experiment_id)
        if job is not None:
            job.abandon()
        await self._scheduler.finished(experiment_id)
        await self._terminate_recorded(experiment_id)
        self._changes.bump(experiment_id)
        self._scheduler.schedule()

    def discard_files(self, experiment_id: str) -> None:
        """Delete the files (logs, synced code, state) of a stopped experiment."""
        self._layout.discard(experiment_id)

    def pod_files(self, experiment_id: str) -> list[tuple[str, Path]]:
        """(pod name, log file) of every pod of the experiment, in role order (a file may
        not exist yet); safe to call from worker threads."""
        return self._scheduler.pod_files(experiment_id)

    def read_chunk(self, experiment_id: str, cursor: str | None, limit: int) -> LogChunk:
        """New complete lines of every pod since ``cursor`` (None: from the start).

        At most ``limit`` bytes of lines come back; ``more`` says there are more. A partial
        last line is held back until its newline comes or the experiment is over.

        Raises ``ValueError``, with a message for the user, for a cursor this runner did
        not make.
        """
        offsets = podlogs.decode_cursor(cursor)
        pods, positions, more = podlogs.read_chunk(
            self._scheduler.pod_files(experiment_id),
            offsets,
            limit,
            finished=self._scheduler.running(experiment_id) is None,
            key=f"{experiment_id}-",
        )
        return LogChunk(pods=pods, cursor=podlogs.encode_cursor(positions), more=more)

    def plan_chunk(self, experiment_id: str, cursor: str | None, limit: int) -> ChunkPlan:
        """What :meth:`read_chunk` would answer, as spans of the log files, none of them
        read: the caller reads them as it writes its answer.

        Raises ``ValueError``, with a message for the user, for a cursor this runner did
        not make.
        """
        spans, positions, more = podlogs.plan_chunk(
            self._scheduler.pod_files(experiment_id),
            podlogs.decode_cursor(cursor),
            limit,
            finished=self._scheduler.running(experiment_id) is None,
            key=f"{experiment_id}-",
        )
        return ChunkPlan(spans=spans, cursor=podlogs.encode_cursor(positions), more=more)

    async def wait_for_change(
        self, experiment_id: str, timeout: float, cursor: str | None = None
    ) -> None:
        """Wait up to ``timeout`` seconds for new output or a status change.

        Returns at once for an experiment that is finished or gone: nothing will change.
        Without ``cursor``, new output is output written after the call; pass the cursor
        just answered by :meth:`read_chunk` so that output written between that read and
        this wait is not missed.
        """
        if self._scheduler.running(experiment_id) is None:
            record = self._store.get(experiment_id)
            if record is None or record.status in _FINAL:
                return
        key = f"{experiment_id}-"
        files = self._scheduler.pod_files(experiment_id)
        if cursor:
            baseline = podlogs.decode_cursor(cursor)
        else:
            baseline = {name.removeprefix(key): _size(path) for name, path in files}
        version = self._changes.version(experiment_id)

        def changed() -> bool:  # called from the watch's worker thread
            if self._changes.version(experiment_id) != version:
                return True
            finished = self._scheduler.running(experiment_id) is None
            pods = self._scheduler.pod_files(experiment_id)
            return podlogs.has_news(pods, baseline, finished=finished, key=key)

        # One watch looks for every waiting follower: idle followers cost nothing each.
        what = (experiment_id, version, tuple(sorted(baseline.items())))
        await self._watch.wait(what, changed, timeout)

    async def close(self) -> None:
        """Clean stop. Running experiments are left running, for the next start on the
        same data dir to adopt (logged, with how to stop them), or, with
        ``stop_experiments``, stopped and marked Failed ("the server stopped"), leaving no
        process; queued experiments stay Accepted for the next start."""
        await self._watch.close()
        if self._stop_experiments:
            await self._scheduler.close("the server stopped")
        else:
            left = await self._scheduler.close("the server stopped", leave=True)
            if left:
                logger.warning("%s", self._left_running(left))
        if self._backend is not None:
            await self._backend.close()

    def _left_running(self, jobs: list[RunningJob]) -> str:
        """What the server says of the experiments it leaves running, and how to stop them."""
        ids = ", ".join(job.experiment_id for job in jobs)
        groups = [
            f"-{handle.facts['pgid']}"
            for job in jobs
            for pod in job.pods
            if (handle := pod.handle) is not None and "pgid" in handle.facts
        ]
        kill = f"; or kill their process groups: kill -TERM -- {' '.join(groups)}" if groups else ""
        return (
            f"the server stops and leaves {len(jobs)} experiment(s) running: {ids}. The next "
            f"start of the server on {self._data_dir} adopts them. To stop them, start it "
            "again and delete them, or start it with --stop-experiments and stop it" + kill
        )

    # -- recovery -----------------------------------------------------------------

    async def _recover(self, record: RunnerRecord, why: str) -> None:
        """Fail an experiment the last start left running that cannot be adopted, after
        stopping what is left of it."""
        experiment_id = record.experiment_id
        stopped = await self._terminate_recorded(experiment_id)
        leftovers = f"; {stopped} leftover process(es) were stopped" if stopped else ""
        reason = f"it cannot be adopted after a restart of the server: {why}{leftovers}"
        for _, path in self._scheduler.pod_files(experiment_id, record):
            podlogs.append_reason(path, f"{reason}; the experiment failed")
        logger.warning("experiment %s: %s", experiment_id, reason)
        self._scheduler.set_status(experiment_id, ExperimentStatus.FAILED.value, reason)

    async def _terminate_recorded(self, experiment_id: str) -> int:
        """Stop the processes recorded on disk for an experiment; how many were alive."""
        groups = self._layout.read_state(experiment_id).pgids
        family = family_of(self._layout, experiment_id, groups)
        return await family.terminate(self._grace)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0

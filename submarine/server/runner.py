"""Runs experiments as local processes: one process group per replica ("pod").

The runner owns an experiment from the moment it is stored as Accepted: it queues it first
in, first out, until the machine has room (:mod:`submarine.server.capacity`), clones its
code (:mod:`submarine.server.gitsync`), starts every replica with the environment of its
framework (:mod:`submarine.server.distributed`), applies the training operators' success
policy, stops what is left, and writes each status change to the store.

On disk, under ``data_dir/experiments/<experiment id>/``::

    logs/<pod>.log   the pod's stdout and stderr, written by the pod itself
    tensorboard/     SUBMARINE_TENSORBOARD_LOG_DIR of every replica
    code/            the cloned repository (code.syncMode git), CODE_PATH
    state.json       the pods and the process group (pgid and creation time) of each,
                     so that the next start can stop what a crashed server left behind

Every replica runs in a session (process group) of its own; stopping an experiment
signals whole groups (SIGTERM, then SIGKILL after the grace period), and also any
descendant that left its group (a daemon), recognised by the JOB_ID and
SUBMARINE_TENSORBOARD_LOG_DIR it inherited. A command whose program is ``python`` or
``python3`` runs with the server's own interpreter (``sys.executable``): replicas run in
the server's environment, whatever ``environment.image`` says (logged once per experiment).

Notes for the HTTP layer (additions to the contract):

* ``Runner`` needs only the parts of ``Store`` and ``Settings`` named in
  :class:`RunnerStore` and :class:`RunnerSettings`.
* ``read_chunk`` raises ``ValueError`` (with a message for the user) on a malformed cursor.
* ``wait_for_change`` takes an optional ``cursor=``: pass the cursor just answered, so
  output written between ``read_chunk`` and the wait is not missed.
* The stored spec keeps ``code.git.password`` (and any ``user:password@`` in
  ``code.git.url``) because the runner needs them; payloads should hide them
  (:func:`submarine.server.gitsync.strip_credentials` splits a URL).
* Check :meth:`Runner.capacity_problem` on patch as on create: a queued experiment patched
  to need more than the machine has is failed with that reason when it reaches the head.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import psutil
from pydantic import ValidationError

from submarine.models import (
    ExperimentSpec,
    ExperimentStatus,
    ExperimentTaskSpec,
    problems_of,
)
from submarine.server import gitsync, logs
from submarine.server.capacity import Capacity, Request, detect_capacity, request_of
from submarine.server.distributed import (
    LOCALHOST,
    cluster_addresses,
    framework_env,
    pod_name,
    replica_roles,
    success_policy_met,
)
from submarine.server.logs import LogChunk

__all__ = ["LogChunk", "Runner", "RunnerRecord", "RunnerSettings", "RunnerStore"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_ACCEPTED: Final = ExperimentStatus.ACCEPTED.value
_CREATED: Final = ExperimentStatus.CREATED.value
_RUNNING: Final = ExperimentStatus.RUNNING.value
_SUCCEEDED: Final = ExperimentStatus.SUCCEEDED.value
_FAILED: Final = ExperimentStatus.FAILED.value
_FINAL: Final = frozenset({_SUCCEEDED, _FAILED, ExperimentStatus.DELETED.value})
_POLL: Final = 0.05
"""Seconds between looks at process groups and log sizes."""
_KILL_WAIT: Final = 10.0
"""Seconds to wait for killed process groups to disappear."""
_TIME_SLACK: Final = 0.05
"""Tolerance when comparing process creation times (the kernel counts in ticks)."""
_PYTHON_NAMES: Final = frozenset({"python", "python3"})


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


@dataclass
class _Pod:
    name: str
    role: str
    index: int
    log: Path
    gpus: list[int] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    returncode: int | None = None


@dataclass
class _Job:
    experiment_id: str
    spec: ExperimentSpec
    directory: Path
    pods: list[_Pod]
    request: Request
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = ""
    removed: bool = False
    groups: dict[str, tuple[int, float]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


@dataclass
class _Outcome:
    status: str | None
    """Succeeded or Failed; None when the experiment is not to be decided (removed, or
    stopped before it started)."""
    culprit: _Pod | None = None
    reason: str = ""


def _now() -> datetime:
    return datetime.now(timezone.utc).astimezone()


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now, all different (held open until all are found)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((LOCALHOST, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


# -- process groups ---------------------------------------------------------------


@dataclass(frozen=True)
class _Family:
    """The processes of one experiment's replicas.

    Each replica is a process group (pgid and the creation time of its leader); a
    descendant that left its group (a daemon: a fork, then ``setsid``) is recognised by the
    environment every replica passes on (``marks``: its JOB_ID and tensorboard dir).
    """

    groups: tuple[tuple[int, float], ...]
    marks: tuple[tuple[str, str], ...]

    def alive(self) -> tuple[dict[int, list[int]], set[int]]:
        """(live members by pgid, pids of live daemons), zombies not counted.

        A group is ours when its leader is the process we started (same creation time) or
        is gone; only processes created after the first leader count, so a recycled pid is
        never taken for ours.
        """
        if not self.groups:
            return {}, set()
        wanted: dict[int, float] = {}
        for pgid, created in self.groups:
            try:
                if abs(psutil.Process(pgid).create_time() - created) > _TIME_SLACK:
                    continue  # the pid now belongs to another process: not our group
            except psutil.NoSuchProcess:
                pass
            except psutil.Error:
                continue
            wanted[pgid] = created
        since = min(created for _, created in self.groups) - _TIME_SLACK
        groups: dict[int, list[int]] = {}
        strays: set[int] = set()
        me = os.getpid()
        for proc in psutil.process_iter():
            try:
                if proc.pid == me or proc.create_time() < since:
                    continue
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                pgid = os.getpgid(proc.pid)
                if pgid in wanted and proc.create_time() >= wanted[pgid] - _TIME_SLACK:
                    groups.setdefault(pgid, []).append(proc.pid)
                elif self.marks and self._marked(proc):
                    strays.add(proc.pid)
            except (OSError, psutil.Error):
                continue
        return groups, strays

    def _marked(self, proc: psutil.Process) -> bool:
        env = proc.environ()
        return all(env.get(key) == value for key, value in self.marks)

    def signal(self, groups: Iterable[int], strays: Iterable[int], signum: int) -> None:
        """Send ``signum`` to whole groups and to single daemons."""
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signum)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    async def terminate(self, grace: float) -> int:
        """SIGTERM everything alive, SIGKILL what is left after ``grace`` seconds, wait until
        it is gone; returns how many processes were alive at first."""
        loop = asyncio.get_running_loop()
        groups, strays = self.alive()
        count = len(strays) + sum(len(members) for members in groups.values())
        if not count:
            return 0
        self.signal(groups, strays, signal.SIGTERM)
        deadline = loop.time() + grace
        while (groups or strays) and loop.time() < deadline:
            await asyncio.sleep(_POLL)
            groups, strays = self.alive()
        deadline = loop.time() + _KILL_WAIT
        while groups or strays:
            self.signal(groups, strays, signal.SIGKILL)
            if loop.time() > deadline:
                logger.error("process groups %s and processes %s survive SIGKILL", groups, strays)
                break
            await asyncio.sleep(_POLL)
            groups, strays = self.alive()
        return count


class Runner:
    """Supervises the replica processes of the local server's experiments.

    One instance per server, used from its asyncio loop; the store is written on every
    status change (Accepted -> Created -> Running -> Succeeded/Failed).

    >>> runner = Runner(store, settings)          # doctest: +SKIP
    >>> await runner.start()                      # doctest: +SKIP
    >>> runner.submit("experiment-1700000000000-0001")  # doctest: +SKIP

    Args:
        store: the experiments' storage (see :class:`RunnerStore`).
        settings: data dir, working dir, capacity overrides and grace period.
    """

    def __init__(self, store: RunnerStore, settings: RunnerSettings) -> None:
        self._store = store
        self._settings = settings
        self._root = Path(settings.data_dir) / "experiments"
        self._capacity = detect_capacity(settings.cpus, settings.memory_bytes, settings.gpus)
        self._queue: deque[str] = deque()
        self._jobs: dict[str, _Job] = {}
        self._versions: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._warned_image: set[str] = set()
        self._started = False
        self._closing = False

    @property
    def capacity(self) -> Capacity:
        """The machine's capacity the runner schedules against."""
        return self._capacity

    # -- public API ---------------------------------------------------------------

    async def start(self) -> None:
        """Recover from the previous run, then start queued experiments.

        Experiments a crash left Created or Running get their leftover process groups
        stopped and are marked Failed, with the reason in their pod logs; Accepted ones
        are queued again (in accepted order) from a clean directory.
        """
        self._root.mkdir(parents=True, exist_ok=True)
        for status in (_CREATED, _RUNNING):
            for record in self._store.list(status):
                await self._recover(record.experiment_id)
        for record in self._store.list(_ACCEPTED):
            await self._terminate_recorded(record.experiment_id)
            shutil.rmtree(self._directory(record.experiment_id), ignore_errors=True)
            if record.experiment_id not in self._queue:
                self._queue.append(record.experiment_id)
        self._started = True
        self._schedule()

    def capacity_problem(self, spec: ExperimentSpec) -> str | None:
        """Why ``spec`` can NEVER run on this machine (need and capacity), or None."""
        request = Request.total(r for _, _, r in request_of(spec))
        return self._capacity.problem(request)

    def submit(self, experiment_id: str) -> None:
        """Queue a stored Accepted experiment (first in, first out); returns at once."""
        if experiment_id not in self._queue and experiment_id not in self._jobs:
            self._queue.append(experiment_id)
        self._schedule()

    def spec_changed(self, experiment_id: str) -> None:
        """Take note of a patched spec.

        A queued experiment starts with the new spec (it is read when the experiment
        starts). A running one keeps its replicas as they are: the new spec is stored
        but takes effect only if the experiment is run again.
        """
        self._bump(experiment_id)
        self._schedule()

    async def remove(self, experiment_id: str) -> None:
        """Stop the experiment's processes (SIGTERM, SIGKILL after the grace period), delete
        its files; writes no status (the caller deletes the record)."""
        await self.stop(experiment_id)
        self.discard_files(experiment_id)

    def discard_files(self, experiment_id: str) -> None:
        """Delete the files (logs, synced code) of an experiment that is stopped."""
        shutil.rmtree(self._directory(experiment_id), ignore_errors=True)

    async def stop(self, experiment_id: str) -> None:
        """Stop the experiment's processes for good (SIGTERM, SIGKILL after the grace
        period) and take it off the queue; its files stay until ``discard_files``."""
        with contextlib.suppress(ValueError):
            self._queue.remove(experiment_id)
        job = self._jobs.get(experiment_id)
        if job is not None and job.task is not None:
            job.removed = True
            job.stop.set()
            await asyncio.shield(job.task)
        await self._terminate_recorded(experiment_id)
        self._warned_image.discard(experiment_id)
        self._bump(experiment_id)
        self._schedule()

    def pod_logs(self, experiment_id: str) -> list[tuple[str, list[str]]]:
        """(pod name, lines so far) for every pod of the experiment, in role order."""
        return [(name, logs.read_lines(path)) for name, path in self._pod_files(experiment_id)]

    def read_chunk(self, experiment_id: str, cursor: str | None, limit: int) -> LogChunk:
        """New complete lines of every pod since ``cursor`` (None: from the start).

        At most ``limit`` bytes of lines come back; ``more`` says when there are more.
        Raises ``ValueError`` for a cursor this runner did not make.
        """
        offsets = logs.decode_cursor(cursor)
        pods, positions, more = logs.read_chunk(
            self._pod_files(experiment_id),
            offsets,
            limit,
            finished=experiment_id not in self._jobs,
            key=f"{experiment_id}-",
        )
        return LogChunk(pods=pods, cursor=logs.encode_cursor(positions), more=more)

    async def wait_for_change(
        self, experiment_id: str, timeout: float, cursor: str | None = None
    ) -> None:
        """Wait up to ``timeout`` seconds for new output or a status change.

        Returns at once for an experiment that is finished or gone: nothing will change.

        Without ``cursor`` new output is output written after the call; with it, output
        past the cursor (so nothing written just before the call is missed).
        """
        if experiment_id not in self._jobs:
            record = self._store.get(experiment_id)
            if record is None or record.status in _FINAL:
                return  # nothing will change any more
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        key = f"{experiment_id}-"
        files = self._pod_files(experiment_id)
        if cursor:
            baseline = logs.decode_cursor(cursor)
        else:
            baseline = {n.removeprefix(key): _size(p) for n, p in files}
        version = self._versions.get(experiment_id, 0)
        while True:
            if self._versions.get(experiment_id, 0) != version:
                return
            finished = experiment_id not in self._jobs
            if logs.has_news(files, baseline, finished=finished, key=key):
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), min(_POLL * 2, remaining))
            files = self._pod_files(experiment_id)

    async def close(self) -> None:
        """Clean stop: stop every running replica and mark its experiment Failed ("server
        stopped"), leaving no process; queued experiments stay Accepted for the next start."""
        self._closing = True
        jobs = list(self._jobs.values())
        for job in jobs:
            job.stop_reason = "the server stopped"
            job.stop.set()
        tasks = [job.task for job in jobs if job.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- scheduling ---------------------------------------------------------------

    def _schedule(self) -> None:
        """Start queued experiments, strictly in order, while the head fits."""
        if not self._started or self._closing:
            return
        while self._queue:
            experiment_id = self._queue[0]
            record = self._store.get(experiment_id)
            if record is None or record.status != _ACCEPTED or experiment_id in self._jobs:
                self._queue.popleft()
                continue
            try:
                spec = ExperimentSpec.model_validate(record.spec)
            except ValidationError as exc:
                self._queue.popleft()
                problems = "; ".join(str(p) for p in problems_of(exc))
                reason = f"the stored spec is invalid: {problems}"
                self._fail_unstarted(experiment_id, record, reason)
                continue
            request = Request.total(r for _, _, r in request_of(spec))
            problem = self._capacity.problem(request)
            if problem is not None:
                self._queue.popleft()
                self._fail_unstarted(experiment_id, record, f"cannot run here: it {problem}")
                continue
            in_use = Request.total(job.request for job in self._jobs.values())
            if not self._capacity.fits(request, in_use):
                return
            self._queue.popleft()
            job = self._new_job(experiment_id, spec, request)
            self._jobs[experiment_id] = job
            job.task = asyncio.get_running_loop().create_task(
                self._run(job), name=f"submarine-runner-{experiment_id}"
            )

    def _new_job(self, experiment_id: str, spec: ExperimentSpec, request: Request) -> _Job:
        directory = self._directory(experiment_id)
        used = {g for job in self._jobs.values() for pod in job.pods for g in pod.gpus}
        free = [g for g in range(self._capacity.gpus) if g not in used]
        pods = []
        for role, index, pod_request in sorted(request_of(spec), key=self._role_order(spec)):
            name = pod_name(experiment_id, role, index)
            gpus, free = free[: pod_request.gpus], free[pod_request.gpus :]
            pods.append(_Pod(name, role, index, self._log_path(name, directory), gpus))
        return _Job(experiment_id, spec, directory, pods, request)

    @staticmethod
    def _role_order(spec: ExperimentSpec) -> Callable[[tuple[str, int, Request]], tuple[int, int]]:
        """Sort key of ``request_of`` items: the framework's role order, then the index."""
        rank = {role: i for i, (role, _) in enumerate(replica_roles(spec))}
        return lambda item: (rank.get(item[0], len(rank)), item[1])

    def _fail_unstarted(self, experiment_id: str, record: RunnerRecord, reason: str) -> None:
        for _, path in self._pod_files(experiment_id, record):
            logs.append_reason(path, f"{reason}; the experiment failed")
        logger.warning("experiment %s failed: %s", experiment_id, reason)
        self._set_status(experiment_id, _FAILED)

    # -- one experiment -----------------------------------------------------------

    async def _run(self, job: _Job) -> None:
        try:
            await self._execute(job)
        except Exception as exc:  # a bug or an I/O error: fail the experiment, keep serving
            logger.exception("running experiment %s failed", job.experiment_id)
            reason = f"internal error of the server: {exc}"
            await self._finish(job, _Outcome(_FAILED, reason=reason))
        finally:
            self._jobs.pop(job.experiment_id, None)
            self._bump(job.experiment_id)
            self._schedule()

    async def _execute(self, job: _Job) -> None:
        (job.directory / "logs").mkdir(parents=True, exist_ok=True)
        self._tensorboard_dir(job.experiment_id).mkdir(exist_ok=True)
        self._write_state(job)
        self._warn_image(job)
        cwd = Path(self._settings.workdir)
        code_path: Path | None = None
        code = job.spec.code
        if code is not None and code.git is not None:
            code_path = job.directory / "code"
            shutil.rmtree(code_path, ignore_errors=True)
            try:
                cloned = await self._unless_stopped(
                    job,
                    gitsync.clone(
                        code.git,
                        code_path,
                        scratch=job.directory / "tmp",
                        on_spawn=lambda pid: self._record_group(job, "git-clone", pid),
                    ),
                )
            except gitsync.CloneError as exc:
                await self._finish(job, _Outcome(_FAILED, reason=str(exc)))
                return
            await self._stop_pods(job)  # git's group: nothing of it may outlive the clone
            if not cloned:
                # Stopped before any replica ran: the experiment stays Accepted.
                return
            cwd = code_path
        outcome = await self._start_pods(job, cwd, code_path)
        if outcome is None:
            self._set_status(job.experiment_id, _CREATED)
            self._set_status(job.experiment_id, _RUNNING)
            logger.info("experiment %s is running %d replicas", job.experiment_id, len(job.pods))
            outcome = await self._supervise(job)
        await self._finish(job, outcome)

    async def _finish(self, job: _Job, outcome: _Outcome) -> None:
        """Note why pods end, stop every process group, write the final status."""
        self._note_stopped(job, outcome)
        await self._stop_pods(job)
        self._decide(job, outcome)

    async def _unless_stopped(self, job: _Job, work: Awaitable[_T]) -> bool:
        """Run ``work`` unless the job is stopped first (then cancel it); True if it ran."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(job.stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    async def _start_pods(self, job: _Job, cwd: Path, code_path: Path | None) -> _Outcome | None:
        """Spawn every replica; an outcome when one could not start or the job was stopped."""
        roles = replica_roles(job.spec)
        cluster = cluster_addresses(roles, _free_ports(sum(n for _, n in roles)))
        for pod in job.pods:
            if job.stop.is_set():
                return self._stopped_outcome(job)
            task = self._task_spec(job.spec, pod.role)
            command = task.cmd or job.spec.meta.cmd or ""
            cannot = f"cannot start replica {pod.name}"
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                return _Outcome(_FAILED, pod, f"{cannot}: {exc} in command {command!r}")
            if not argv:
                return _Outcome(_FAILED, pod, f"{cannot}: its command is empty")
            if argv[0] in _PYTHON_NAMES:
                argv[0] = sys.executable
            env = self._pod_env(job, pod, cluster, code_path)
            try:
                await self._spawn(job, pod, argv, env, cwd)
            except OSError as exc:
                return _Outcome(_FAILED, pod, self._spawn_error(pod, argv[0], command, exc))
        return None

    @staticmethod
    def _spawn_error(pod: _Pod, program: str, command: str, exc: OSError) -> str:
        if isinstance(exc, FileNotFoundError) and exc.filename in (program, None):
            what = f"command {program!r} was not found (looked up on PATH, relative to its cwd)"
        elif isinstance(exc, PermissionError) and exc.filename in (program, None):
            what = f"command {program!r} is not executable"
        else:
            what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        return f"cannot start replica {pod.name} ({command!r}): {what}"

    @staticmethod
    def _task_spec(spec: ExperimentSpec, role: str) -> ExperimentTaskSpec:
        for key, task in spec.spec.items():
            if key.lower() == role.lower():
                return task
        raise KeyError(role)

    def _pod_env(
        self, job: _Job, pod: _Pod, cluster: Mapping[str, Sequence[str]], code_path: Path | None
    ) -> dict[str, str]:
        """The server's env, then meta.envVars (or the role's envVars), then the added env."""
        spec = job.spec
        task = self._task_spec(spec, pod.role)
        env = dict(os.environ)
        env.update(task.env_vars if task.env_vars is not None else (spec.meta.env_vars or {}))
        env["JOB_ID"] = job.experiment_id
        env["SUBMARINE_TENSORBOARD_LOG_DIR"] = str(self._tensorboard_dir(job.experiment_id))
        env["PYTHONUNBUFFERED"] = "1"
        if code_path is not None:
            env["CODE_PATH"] = str(code_path)
        framework = spec.framework
        if framework is not None:
            env.update(framework_env(framework, cluster, pod.role, pod.index))
        if pod.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in pod.gpus)
        return env

    async def _spawn(
        self, job: _Job, pod: _Pod, argv: list[str], env: dict[str, str], cwd: Path
    ) -> None:
        """Start one replica in its own session, its output going straight to its log.

        ``python``/``python3`` as the program means the server's own interpreter
        (``sys.executable``), so replicas run in the server's environment; other programs
        are looked up on the replica's PATH.
        """
        pod.log.parent.mkdir(parents=True, exist_ok=True)
        with pod.log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        pod.process = process
        self._record_group(job, pod.name, process.pid)

    def _record_group(self, job: _Job, name: str, pid: int) -> None:
        """Remember a started process group, on disk at once (for recovery after a crash)."""
        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            created = time.time() - 1.0  # already gone: members can only be younger
        job.groups[name] = (pid, created)
        self._write_state(job)

    async def _supervise(self, job: _Job) -> _Outcome:
        """Wait for replicas to exit until the job is decided or stopped."""
        waits = {
            asyncio.ensure_future(pod.process.wait()): pod
            for pod in job.pods
            if pod.process is not None
        }
        stop = asyncio.ensure_future(job.stop.wait())
        framework = job.spec.framework
        roles = replica_roles(job.spec)
        done_ok: set[tuple[str, int]] = set()
        try:
            while True:
                done, _ = await asyncio.wait([*waits, stop], return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    pod = waits.pop(finished, None)
                    if pod is None:
                        continue
                    pod.returncode = finished.result()
                    if pod.returncode != 0:
                        reason = f"replica {pod.name} {_exit_text(pod.returncode)}"
                        return _Outcome(_FAILED, pod, reason)
                    done_ok.add((pod.role, pod.index))
                if success_policy_met(framework, roles, done_ok) or not waits:
                    return _Outcome(_SUCCEEDED)
                if stop in done:
                    return self._stopped_outcome(job)
        finally:
            stop.cancel()
            for waiting in waits:
                waiting.cancel()

    @staticmethod
    def _stopped_outcome(job: _Job) -> _Outcome:
        if job.removed:
            return _Outcome(None)
        return _Outcome(_FAILED, reason=job.stop_reason)

    def _note_stopped(self, job: _Job, outcome: _Outcome) -> None:
        """Say in each pod's log why it ends (the culprit's exit, or why it was stopped)."""
        if job.removed or outcome.status is None:
            return
        if outcome.culprit is not None:
            logs.append_reason(outcome.culprit.log, f"{outcome.reason}; the experiment failed")
        for pod in job.pods:
            if pod is outcome.culprit or pod.process is None or pod.returncode is not None:
                continue
            if outcome.status == _SUCCEEDED:
                logs.append_reason(pod.log, "stopped: the experiment succeeded")
            else:
                logs.append_reason(pod.log, f"stopped: {outcome.reason}; the experiment failed")

    async def _stop_pods(self, job: _Job) -> None:
        """Stop every process group of the job (grace, then kill) and reap its leaders."""
        await self._family(job.experiment_id, job.groups.values()).terminate(
            self._settings.grace_period
        )
        for pod in job.pods:
            if pod.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    pod.process.kill()
                code = await pod.process.wait()
                if pod.returncode is None:
                    pod.returncode = code
        job.groups.clear()
        if job.directory.exists():
            self._write_state(job)

    def _decide(self, job: _Job, outcome: _Outcome) -> None:
        """Write the final status (and, for a failure without a culprit, the reason)."""
        if job.removed or outcome.status is None:
            return
        for pod in job.pods:
            if outcome.status == _FAILED and pod.process is None and pod is not outcome.culprit:
                logs.append_reason(pod.log, f"{outcome.reason}; the experiment failed")
            logs.end_line(pod.log)
        if outcome.status == _FAILED:
            logger.warning("experiment %s failed: %s", job.experiment_id, outcome.reason)
        else:
            logger.info("experiment %s succeeded", job.experiment_id)
        self._set_status(job.experiment_id, outcome.status)

    def _warn_image(self, job: _Job) -> None:
        environment = job.spec.environment
        images = {environment.image, environment.docker_image}
        images |= {task.image for task in job.spec.spec.values()}
        named = sorted(i for i in images if i)
        if named and job.experiment_id not in self._warned_image:
            self._warned_image.add(job.experiment_id)
            logger.warning(
                "experiment %s asks for image %s: the local server runs replicas without "
                "containers, in its own Python environment (%s)",
                job.experiment_id,
                ", ".join(named),
                sys.executable,
            )

    # -- recovery -----------------------------------------------------------------

    async def _recover(self, experiment_id: str) -> None:
        stopped = await self._terminate_recorded(experiment_id)
        record = self._store.get(experiment_id)
        leftovers = f"; {stopped} leftover process(es) were stopped" if stopped else ""
        reason = (
            "the server stopped without a clean shutdown (crash or kill) while this experiment "
            f"ran{leftovers}; the experiment failed"
        )
        for _, path in self._pod_files(experiment_id, record):
            logs.append_reason(path, reason)
        logger.warning("experiment %s: %s", experiment_id, reason)
        self._set_status(experiment_id, _FAILED)

    async def _terminate_recorded(self, experiment_id: str) -> int:
        """Stop the processes recorded on disk for an experiment; how many were alive."""
        recorded = self._read_state(experiment_id).get("groups", {})
        try:
            groups = [(int(pgid), float(created)) for pgid, created in recorded.values()]
        except (AttributeError, TypeError, ValueError):
            logger.warning("experiment %s: unreadable process records %r", experiment_id, recorded)
            return 0
        family = self._family(experiment_id, groups)
        return await family.terminate(self._settings.grace_period)

    def _family(self, experiment_id: str, groups: Iterable[tuple[int, float]]) -> _Family:
        """The processes of an experiment: its groups, and daemons that carry its env."""
        marks = (
            ("JOB_ID", experiment_id),
            ("SUBMARINE_TENSORBOARD_LOG_DIR", str(self._tensorboard_dir(experiment_id))),
        )
        return _Family(tuple(groups), marks)

    # -- files --------------------------------------------------------------------

    def _directory(self, experiment_id: str) -> Path:
        if not experiment_id or not all(c.isalnum() or c in "-_" for c in experiment_id):
            raise ValueError(f"experiment id {experiment_id!r} is not a valid id")
        return self._root / experiment_id

    def _tensorboard_dir(self, experiment_id: str) -> Path:
        return self._directory(experiment_id) / "tensorboard"

    @staticmethod
    def _log_path(name: str, directory: Path) -> Path:
        return directory / "logs" / f"{name}.log"

    def _write_state(self, job: _Job) -> None:
        state = {
            "pods": [pod.name for pod in job.pods],
            "groups": {name: list(group) for name, group in job.groups.items()},
        }
        path = job.directory / "state.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, path)

    def _read_state(self, experiment_id: str) -> dict[str, Any]:
        try:
            text = (self._directory(experiment_id) / "state.json").read_text(encoding="utf-8")
            state = json.loads(text)
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _pod_files(
        self, experiment_id: str, record: RunnerRecord | None = None
    ) -> list[tuple[str, Path]]:
        """(pod name, log file) of every pod: those that ran, else those of the stored spec."""
        directory = self._directory(experiment_id)
        job = self._jobs.get(experiment_id)
        if job is not None:
            return [(pod.name, pod.log) for pod in job.pods]
        names = self._read_state(experiment_id).get("pods")
        if not isinstance(names, list):
            record = record or self._store.get(experiment_id)
            if record is None:
                return []
            try:
                spec = ExperimentSpec.model_validate(record.spec)
            except ValidationError:
                return []
            names = [
                pod_name(experiment_id, role, index)
                for role, count in replica_roles(spec)
                for index in range(count)
            ]
        return [(str(name), self._log_path(str(name), directory)) for name in names]

    # -- status -------------------------------------------------------------------

    def _set_status(self, experiment_id: str, status: str) -> None:
        if self._store.get(experiment_id) is not None:
            self._store.set_status(experiment_id, status, at=_now())
        self._bump(experiment_id)

    def _bump(self, experiment_id: str) -> None:
        """Wake whoever waits for a change of this experiment."""
        self._versions[experiment_id] = self._versions.get(experiment_id, 0) + 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0

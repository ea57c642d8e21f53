"""One experiment's run: clone its code, start its replicas, watch them, decide, stop the rest.

The scheduler makes a :class:`Job` when the experiment may start; :meth:`Job.run` then

1. clones the code (``code.syncMode: git``) into the experiment's ``code/`` directory; a
   stop during the clone cancels it, and the experiment stays Accepted;
2. starts every replica (:func:`submarine.server.run.processes.spawn`), with the server's
   environment less its secrets (no ``SUBMARINE_*`` variable, nothing holding the
   server's token or password: :func:`~submarine.server.run.processes.child_environ`), then
   ``meta.envVars`` (or the role's own ``envVars``), then what the server
   adds: JOB_ID, SUBMARINE_TENSORBOARD_LOG_DIR, CODE_PATH, PYTHONUNBUFFERED, the framework's
   cluster variables and CUDA_VISIBLE_DEVICES; it reports Created, then Running;
3. applies the training operators' success policy as replicas exit; a replica that exits
   non-zero fails the experiment at once;
4. stops every process group that is left (SIGTERM, SIGKILL after the grace period), says
   in each pod's log why it ended, and reports Succeeded or Failed.

A command whose program is ``python`` or ``python3`` runs with the server's own interpreter
(``sys.executable``): replicas run in the server's environment, whatever
``environment.image`` says (logged once per experiment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import shutil
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from submarine.models import ExperimentSpec, ExperimentStatus, ExperimentTaskSpec
from submarine.server.run import gitsync, podlogs
from submarine.server.run.capacity import Request
from submarine.server.run.distributed import (
    LOCALHOST,
    cluster_addresses,
    framework_env,
    replica_roles,
    success_policy_met,
)
from submarine.server.run.layout import JobLayout
from submarine.server.run.processes import (
    ProcessFamily,
    child_environ,
    creation_time,
    exit_text,
    free_ports,
    spawn,
)

__all__ = ["Job", "Pod", "family_of", "marks_of"]

logger = logging.getLogger(__name__)

_CREATED: Final = ExperimentStatus.CREATED.value
_RUNNING: Final = ExperimentStatus.RUNNING.value
_SUCCEEDED: Final = ExperimentStatus.SUCCEEDED.value
_FAILED: Final = ExperimentStatus.FAILED.value
_PYTHON_NAMES: Final = frozenset({"python", "python3"})
_CLONE_GROUP: Final = "git-clone"


def marks_of(layout: JobLayout, experiment_id: str) -> tuple[tuple[str, str], ...]:
    """The environment every replica of the experiment, and every child of one, inherits:
    its JOB_ID and its tensorboard dir."""
    return (
        ("JOB_ID", experiment_id),
        ("SUBMARINE_TENSORBOARD_LOG_DIR", str(layout.tensorboard_dir(experiment_id))),
    )


def family_of(
    layout: JobLayout, experiment_id: str, groups: Iterable[tuple[int, float]]
) -> ProcessFamily:
    """The processes of an experiment: its process groups, and any process that carries
    its marks (:func:`marks_of`), such as a daemon that left its group."""
    return ProcessFamily(tuple(groups), marks_of(layout, experiment_id))


@dataclass
class Pod:
    """One replica of a job: its name, role, index, log file and gpus."""

    name: str
    role: str
    index: int
    log: Path
    gpus: list[int] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    returncode: int | None = None


@dataclass
class _Outcome:
    status: str | None
    """Succeeded or Failed; None when nothing is to be decided (abandoned, or stopped
    before any replica started)."""
    culprit: Pod | None = None
    reason: str = ""


class Job:
    """One experiment's run, from its code to its final status.

    Args:
        experiment_id: the experiment.
        spec: its spec, as it was when the job was made.
        request: what it asks of the machine (the scheduler counts it while it runs).
        pods: its replicas, in the framework's role order.
        layout: where its files go.
        workdir: the working directory of replicas without synced code.
        grace: seconds between SIGTERM and SIGKILL.
        report: called with (experiment id, status) on every status change.
        secrets: the server's own secrets (token, password), which no replica inherits.
        replica_env: more environment for every replica, by experiment id (tracking).
    """

    def __init__(
        self,
        experiment_id: str,
        spec: ExperimentSpec,
        request: Request,
        pods: list[Pod],
        *,
        layout: JobLayout,
        workdir: Path,
        grace: float,
        report: Callable[[str, str], None],
        secrets: Sequence[str] = (),
        replica_env: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        self.experiment_id = experiment_id
        self.spec = spec
        self.request = request
        self.pods = pods
        self._layout = layout
        self._workdir = workdir
        self._grace = grace
        self._report = report
        self._secrets = tuple(secrets)
        self._replica_env = replica_env
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._abandoned = False
        self._groups: dict[str, tuple[int, float]] = {}

    def stop(self, reason: str) -> None:
        """Stop the replicas and fail the experiment with ``reason`` (returns at once)."""
        self._stop_reason = reason
        self._stop.set()

    def abandon(self) -> None:
        """Stop the replicas and report nothing more (the experiment is being deleted)."""
        self._abandoned = True
        self._stop.set()

    async def run(self) -> None:
        """Run the experiment to its end; never raises for the experiment's sake (an error of
        the server fails the experiment with the reason)."""
        try:
            await self._execute()
        except Exception as exc:  # a bug or an I/O error: fail the experiment, keep serving
            logger.exception("running experiment %s failed", self.experiment_id)
            await self._finish(_Outcome(_FAILED, reason=f"internal error of the server: {exc}"))

    # -- the steps ----------------------------------------------------------------

    async def _execute(self) -> None:
        self._layout.prepare(self.experiment_id)
        self._write_state()
        self._warn_image()
        cwd = self._workdir
        code_path: Path | None = None
        code = self.spec.code
        if code is not None and code.git is not None:
            code_path = self._layout.code_dir(self.experiment_id)
            shutil.rmtree(code_path, ignore_errors=True)
            clone = gitsync.clone(
                code.git,
                code_path,
                scratch=self._layout.scratch_dir(self.experiment_id),
                on_spawn=lambda pid: self._record_group(_CLONE_GROUP, pid),
                environ=child_environ(self._secrets),
            )
            try:
                cloned = await self._unless_stopped(clone)
            except gitsync.CloneError as exc:
                await self._finish(_Outcome(_FAILED, reason=str(exc)))
                return
            await self._stop_processes()  # nothing of git's group may outlive the clone
            if not cloned:
                return  # stopped before any replica ran: the experiment stays Accepted
            cwd = code_path
        outcome = await self._start_pods(cwd, code_path)
        if outcome is None:
            self._report(self.experiment_id, _CREATED)
            self._report(self.experiment_id, _RUNNING)
            logger.info("experiment %s is running %d replicas", self.experiment_id, len(self.pods))
            outcome = await self._supervise()
        await self._finish(outcome)

    async def _unless_stopped(self, work: Awaitable[object]) -> bool:
        """Run ``work`` unless the job is stopped first (then cancel it); True if it ran."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
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

    async def _start_pods(self, cwd: Path, code_path: Path | None) -> _Outcome | None:
        """Spawn every replica; an outcome when one could not start or the job was stopped."""
        roles = replica_roles(self.spec)
        ports = free_ports(LOCALHOST, sum(count for _, count in roles))
        cluster = cluster_addresses(roles, ports)
        for pod in self.pods:
            if self._stop.is_set():
                return self._stopped_outcome()
            command = self._task(pod.role).cmd or self.spec.meta.cmd or ""
            cannot = f"cannot start replica {pod.name}"
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                return _Outcome(_FAILED, pod, f"{cannot}: {exc} in command {command!r}")
            if not argv:
                return _Outcome(_FAILED, pod, f"{cannot}: its command is empty")
            if argv[0] in _PYTHON_NAMES:
                argv[0] = sys.executable
            env = self._pod_env(pod, cluster, code_path)
            try:
                pod.process = await spawn(argv, env=env, cwd=cwd, log=pod.log)
            except OSError as exc:
                return _Outcome(_FAILED, pod, _spawn_problem(pod, argv[0], command, exc))
            self._record_group(pod.name, pod.process.pid)
        return None

    def _task(self, role: str) -> ExperimentTaskSpec:
        for key, task in self.spec.spec.items():
            if key.lower() == role.lower():
                return task
        raise KeyError(role)

    def _pod_env(
        self, pod: Pod, cluster: Mapping[str, Sequence[str]], code_path: Path | None
    ) -> dict[str, str]:
        """The server's env, then meta.envVars (or the role's envVars), then the added env."""
        spec = self.spec
        task = self._task(pod.role)
        env = child_environ(self._secrets)
        env.update(task.env_vars if task.env_vars is not None else (spec.meta.env_vars or {}))
        env.update(marks_of(self._layout, self.experiment_id))
        if self._replica_env is not None:
            env.update(self._replica_env(self.experiment_id))
        env["PYTHONUNBUFFERED"] = "1"
        if code_path is not None:
            env["CODE_PATH"] = str(code_path)
        if spec.framework is not None:
            env.update(framework_env(spec.framework, cluster, pod.role, pod.index))
        if pod.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in pod.gpus)
        return env

    def _record_group(self, name: str, pid: int) -> None:
        """Remember a started process group, on disk at once (for recovery after a crash)."""
        self._groups[name] = (pid, creation_time(pid))
        self._write_state()

    def _write_state(self) -> None:
        pods = [pod.name for pod in self.pods]
        self._layout.write_state(self.experiment_id, pods, self._groups)

    async def _supervise(self) -> _Outcome:
        """Wait for replicas to exit until the success policy decides or the job is stopped."""
        waits = {
            asyncio.ensure_future(pod.process.wait()): pod
            for pod in self.pods
            if pod.process is not None
        }
        stop = asyncio.ensure_future(self._stop.wait())
        roles = replica_roles(self.spec)
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
                        reason = f"replica {pod.name} {exit_text(pod.returncode)}"
                        return _Outcome(_FAILED, pod, reason)
                    done_ok.add((pod.role, pod.index))
                if success_policy_met(self.spec.framework, roles, done_ok) or not waits:
                    return _Outcome(_SUCCEEDED)
                if stop in done:
                    return self._stopped_outcome()
        finally:
            stop.cancel()
            for waiting in waits:
                waiting.cancel()

    def _stopped_outcome(self) -> _Outcome:
        if self._abandoned:
            return _Outcome(None)
        return _Outcome(_FAILED, reason=self._stop_reason)

    async def _finish(self, outcome: _Outcome) -> None:
        """Stop every process group, say in each pod's log why it ended, report the final
        status. The reasons are written once the processes are gone, so each is the last
        line of its log."""
        running = [p for p in self.pods if p.process is not None and p.returncode is None]
        await self._stop_processes()
        if outcome.status is not None and not self._abandoned:
            self._note_stopped(outcome, running)
            self._decide(outcome)

    @staticmethod
    def _note_stopped(outcome: _Outcome, running: Sequence[Pod]) -> None:
        """Say in the logs of the culprit and of the pods that were ``running`` why they
        ended (the culprit's exit, or the stop)."""
        if outcome.culprit is not None:
            podlogs.append_reason(outcome.culprit.log, f"{outcome.reason}; the experiment failed")
        for pod in running:
            if pod is outcome.culprit:
                continue
            if outcome.status == _SUCCEEDED:
                podlogs.append_reason(pod.log, "stopped: the experiment succeeded")
            else:
                podlogs.append_reason(pod.log, f"stopped: {outcome.reason}; the experiment failed")

    async def _stop_processes(self) -> None:
        """Stop every process group of the job (grace, then kill) and reap its leaders."""
        family = family_of(self._layout, self.experiment_id, self._groups.values())
        await family.terminate(self._grace)
        for pod in self.pods:
            if pod.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    pod.process.kill()
                code = await pod.process.wait()
                if pod.returncode is None:
                    pod.returncode = code
        self._groups.clear()
        if self._layout.exists(self.experiment_id):
            self._write_state()

    def _decide(self, outcome: _Outcome) -> None:
        """Report the final status (and, for a failure without a culprit, write the reason
        into the logs of pods that never started)."""
        assert outcome.status is not None
        for pod in self.pods:
            if outcome.status == _FAILED and pod.process is None and pod is not outcome.culprit:
                podlogs.append_reason(pod.log, f"{outcome.reason}; the experiment failed")
            podlogs.end_line(pod.log)
        if outcome.status == _FAILED:
            logger.warning("experiment %s failed: %s", self.experiment_id, outcome.reason)
        else:
            logger.info("experiment %s succeeded", self.experiment_id)
        self._report(self.experiment_id, outcome.status)

    def _warn_image(self) -> None:
        environment = self.spec.environment
        images = {environment.image, environment.docker_image}
        images |= {task.image for task in self.spec.spec.values()}
        named = sorted(i for i in images if i)
        if named:
            logger.warning(
                "experiment %s asks for image %s: the local server runs replicas without "
                "containers, in its own Python environment (%s)",
                self.experiment_id,
                ", ".join(named),
                sys.executable,
            )


def _spawn_problem(pod: Pod, program: str, command: str, exc: OSError) -> str:
    """Why a replica could not start, for its log and the experiment's failure."""
    if isinstance(exc, FileNotFoundError) and exc.filename in (program, None):
        what = f"command {program!r} was not found (looked up on PATH, relative to its cwd)"
    elif isinstance(exc, PermissionError) and exc.filename in (program, None):
        what = f"command {program!r} is not executable"
    else:
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"cannot start replica {pod.name} ({command!r}): {what}"

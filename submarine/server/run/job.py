"""One experiment's run, whatever backend runs its replicas: the job policy, written once.

The scheduler makes a :class:`Job` when the experiment may start; :meth:`Job.run` then

1. has its :class:`~submarine.server.run.launcher.Launcher` prepare the replicas (clone the
   code, have a cluster place them: meanwhile :attr:`Job.waiting`, and once the pods'
   logs, say why it waits); a stop while preparing leaves the experiment Accepted;
2. starts the replicas one at a time, in the framework's role order, each with
   ``meta.envVars`` (or the role's own ``envVars``), then what the server adds: JOB_ID,
   SUBMARINE_TENSORBOARD_LOG_DIR, the tracking variables, PYTHONUNBUFFERED and the
   framework's cluster variables built from the addresses the launcher gave (the launcher
   puts its own under and over them: the server's environment less its secrets, CODE_PATH,
   CUDA_VISIBLE_DEVICES, SUBMARINE_NODE); once all started it reports Created, then Running;
   a replica that cannot start fails the experiment;
3. applies the training operators' success policy as replicas exit; a replica that exits
   non-zero, or is lost, fails the experiment at once;
4. releases everything that is left (SIGTERM, SIGKILL after the grace period), then says in
   each pod's log why it ended, and reports Succeeded or Failed (with the reason: the
   failing pod and how it ended). A job that is abandoned (its experiment is being deleted)
   stops the same way and reports nothing.

No replica restarts: the first replica to fail fails the experiment.

Every started replica is recorded in the experiment's state file with the facts its
launcher needs to find it again. When the server stops, a running job is *left*
(:meth:`Job.leave`): its replicas run on and nothing is reported; the next start of the
server makes the job again to *adopt* them (``adopting``): each pod's replica is found
again from its facts (one that is gone without an exit code fails the experiment), and the
success policy goes on from step 3 with the exit codes of those that ended meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from submarine.models import ExperimentSpec, ExperimentStatus, ExperimentTaskSpec
from submarine.server.run import podlogs
from submarine.server.run.capacity import Request
from submarine.server.run.distributed import framework_env, replica_roles, success_policy_met
from submarine.server.run.expand import expand_all
from submarine.server.run.launcher import Launcher, LaunchError, Pod, ReplicaLostError
from submarine.server.run.layout import JobLayout, ReplicaRecord
from submarine.server.run.processes import exit_text

__all__ = ["Job", "Report", "marks_of"]

logger = logging.getLogger(__name__)

_CREATED: Final = ExperimentStatus.CREATED.value
_RUNNING: Final = ExperimentStatus.RUNNING.value
_SUCCEEDED: Final = ExperimentStatus.SUCCEEDED.value
_FAILED: Final = ExperimentStatus.FAILED.value
_T = TypeVar("_T")


def marks_of(layout: JobLayout, experiment_id: str) -> tuple[tuple[str, str], ...]:
    """The environment every replica of the experiment, and every child of one, inherits:
    its JOB_ID and its tensorboard dir."""
    return (
        ("JOB_ID", experiment_id),
        ("SUBMARINE_TENSORBOARD_LOG_DIR", str(layout.tensorboard_dir(experiment_id))),
    )


class Report(Protocol):
    """Told of every status change of a job's experiment."""

    def __call__(self, experiment_id: str, status: str, reason: str | None = None) -> None:
        """The experiment has ``status`` now; ``reason`` says why it failed."""


@dataclass
class _Outcome:
    status: str | None
    """Succeeded or Failed; None when nothing is to be decided (abandoned)."""
    culprit: Pod | None = None
    reason: str = ""


class _StoppedError(Exception):
    """The job was stopped while it waited for its launcher."""


class Job:
    """One experiment's run, from its code to its final status (see the module's docstring).

    Args:
        experiment_id: the experiment.
        spec: its spec, as it was when the job was made.
        request: what it asks of the machine (the scheduler counts it while it runs).
        pods: its replicas, in the framework's role order.
        launcher: how its replicas are launched, watched and stopped on its backend.
        layout: where its files go.
        report: told of every status change (with the reason of a failure).
        replica_env: more environment for every replica, by experiment id (tracking).
        adopting: whether the job takes over replicas that an earlier start of the server
            launched (they are found again from the state file) instead of launching them.
        on_wait: called whenever :attr:`waiting` changes.
    """

    def __init__(
        self,
        experiment_id: str,
        spec: ExperimentSpec,
        request: Request,
        pods: list[Pod],
        *,
        launcher: Launcher,
        layout: JobLayout,
        report: Report,
        replica_env: Callable[[str], Mapping[str, str]] | None = None,
        adopting: bool = False,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self.experiment_id = experiment_id
        self.spec = spec
        self.request = request
        self.pods = pods
        self.waiting: str | None = None
        """Why the backend has not placed the experiment yet; None once placed (or never
        asked to wait)."""
        self._launcher = launcher
        self._layout = layout
        self._report = report
        self._replica_env = replica_env
        self._adopting = adopting
        self._on_wait = on_wait
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._abandoned = False
        self._leaving = False
        self.left = False
        """Whether the job was left with its replicas running (see :meth:`leave`)."""

    def stop(self, reason: str) -> None:
        """Stop the replicas and fail the experiment with ``reason`` (returns at once)."""
        self._stop_reason = reason
        self._stop.set()

    def abandon(self) -> None:
        """Stop the replicas and report nothing more (the experiment is being deleted)."""
        self._abandoned = True
        self._stop.set()

    def leave(self) -> None:
        """End the job but not its replicas (the server stops): once they all run, they run
        on and nothing more is reported (:attr:`left`); before that, what was started is
        stopped and the experiment stays Accepted, to start again with the server."""
        self._leaving = True
        self._stop.set()

    async def run(self) -> None:
        """Run the experiment to its end; never raises for the experiment's sake (an error of
        the server fails the experiment with the reason)."""
        try:
            await (self._adopt() if self._adopting else self._execute())
        except Exception as exc:  # a bug or an I/O error: fail the experiment, keep serving
            logger.exception("running experiment %s failed", self.experiment_id)
            await self._finish(_Outcome(_FAILED, reason=f"internal error of the server: {exc}"))
        finally:
            if not self.left:
                with contextlib.suppress(Exception):  # released already, unless _finish failed
                    await self._launcher.release()

    # -- the steps ----------------------------------------------------------------

    async def _execute(self) -> None:
        self._layout.prepare(self.experiment_id)
        request = (self.request.cpu_millis, self.request.memory_bytes, self.request.gpus)
        self._layout.write_run(self.experiment_id, [pod.name for pod in self.pods], request)
        try:
            addresses = await self._unless_stopped(self._launcher.prepare(self._note_waiting))
        except LaunchError as exc:
            await self._finish(_Outcome(_FAILED, exc.culprit, exc.reason))
            return
        except _StoppedError:
            await self._launcher.release()
            return  # stopped before any replica ran: the experiment stays Accepted
        outcome = await self._start_pods(addresses)
        if outcome is None:
            self._report(self.experiment_id, _CREATED)
            self._report(self.experiment_id, _RUNNING)
            logger.info(
                "experiment %s is running %d replicas%s",
                self.experiment_id,
                len(self.pods),
                self._launcher.placement(),
            )
            outcome = await self._supervise()
        await self._finish(outcome)

    async def _adopt(self) -> None:
        """Find every replica again, then go on supervising them."""
        replicas = self._layout.read_state(self.experiment_id).replicas
        for pod in self.pods:
            record = replicas.get(pod.name)
            try:
                pod.handle = await self._launcher.adopt(pod, record.facts if record else {})
            except ReplicaLostError as exc:
                await self._finish(_Outcome(_FAILED, pod, exc.reason))
                return
        logger.info(
            "experiment %s: adopted its %d replicas, left running by the server's last start",
            self.experiment_id,
            len(self.pods),
        )
        await self._finish(await self._supervise())

    def _note_waiting(self, reason: str | None) -> None:
        """Say, when it changes, why the backend cannot place the experiment yet."""
        if reason is not None and reason != self.waiting:
            logger.info("experiment %s waits: %s", self.experiment_id, reason)
            for pod in self.pods:
                podlogs.append_reason(pod.log, f"waiting for {self._launcher.name}: {reason}")
        changed, self.waiting = reason != self.waiting, reason
        if changed and self._on_wait is not None:
            self._on_wait()

    async def _unless_stopped(self, work: Awaitable[_T]) -> _T:
        """The result of ``work``, unless the job is stopped first: then ``work`` is
        cancelled and :class:`_StoppedError` raised."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise _StoppedError

    async def _start_pods(self, addresses: Sequence[str]) -> _Outcome | None:
        """Start every replica in order; an outcome when one could not start or the job
        was stopped."""
        cluster = self._cluster(addresses)
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
            env = self._pod_env(pod, cluster)
            argv = expand_all(argv, env)  # $(NAME), as Kubernetes expands it
            try:  # a start is quick: a stop is seen before the next one
                pod.handle = await self._launcher.start(pod, argv, env, command=command)
            except LaunchError as exc:
                return _Outcome(_FAILED, exc.culprit, exc.reason)
            record = ReplicaRecord(pod.role, pod.index, tuple(pod.gpus), pod.handle.facts)
            self._layout.record_replica(self.experiment_id, pod.name, record)
        return None

    def _cluster(self, addresses: Sequence[str]) -> dict[str, list[str]]:
        """The framework's cluster: every pod's address, by role, in role order."""
        cluster: dict[str, list[str]] = {role: [] for role, _ in replica_roles(self.spec)}
        for pod, address in zip(self.pods, addresses, strict=True):
            cluster.setdefault(pod.role, []).append(address)
        return cluster

    def _task(self, role: str) -> ExperimentTaskSpec:
        for key, task in self.spec.spec.items():
            if key.lower() == role.lower():
                return task
        raise KeyError(role)

    def _pod_env(self, pod: Pod, cluster: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """meta.envVars (or the role's envVars), then what the server adds."""
        spec = self.spec
        task = self._task(pod.role)
        env = dict(task.env_vars if task.env_vars is not None else (spec.meta.env_vars or {}))
        env.update(marks_of(self._layout, self.experiment_id))
        if self._replica_env is not None:  # tracking: where to send metrics, and the key
            env.update(self._replica_env(self.experiment_id))
        env["PYTHONUNBUFFERED"] = "1"
        if spec.framework is not None:
            env.update(framework_env(spec.framework, cluster, pod.role, pod.index))
        return env

    async def _supervise(self) -> _Outcome:
        """Wait for replicas to exit until the success policy decides or the job is stopped."""
        waits = {
            asyncio.ensure_future(pod.handle.wait()): pod
            for pod in self.pods
            if pod.handle is not None
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
                    try:
                        pod.returncode = finished.result()
                    except ReplicaLostError as exc:
                        return _Outcome(_FAILED, pod, exc.reason)
                    if pod.returncode != 0:
                        reason = f"replica {pod.name} {exit_text(pod.returncode)}"
                        return _Outcome(_FAILED, pod, reason)
                    done_ok.add((pod.role, pod.index))
                if success_policy_met(self.spec.framework, roles, done_ok) or not waits:
                    return _Outcome(_SUCCEEDED)
                if stop in done:
                    self.left = self._leaving
                    return self._stopped_outcome()
        finally:
            stop.cancel()
            for waiting in waits:
                waiting.cancel()
            if waits:  # a handle may hand over what it holds before it lets go
                await asyncio.gather(*waits, return_exceptions=True)

    def _stopped_outcome(self) -> _Outcome:
        if self._abandoned or self._leaving:
            return _Outcome(None)
        return _Outcome(_FAILED, reason=self._stop_reason)

    async def _finish(self, outcome: _Outcome) -> None:
        """Release everything, say in each pod's log why it ended, report the final status.
        The reasons are written once the replicas are gone, so each is the last line of
        its log."""
        if self.left:
            return  # the replicas run on, for the next start of the server to adopt
        running = [p for p in self.pods if p.handle is not None and p.returncode is None]
        await self._launcher.release()
        if outcome.status is None or self._abandoned:
            return
        if outcome.culprit is not None:
            podlogs.append_reason(outcome.culprit.log, f"{outcome.reason}; the experiment failed")
        for pod in self.pods:
            if pod is outcome.culprit:
                pass
            elif outcome.status == _SUCCEEDED:
                if pod in running:
                    podlogs.append_reason(pod.log, "stopped: the experiment succeeded")
            elif pod in running:
                podlogs.append_reason(pod.log, f"stopped: {outcome.reason}; the experiment failed")
            elif pod.handle is None:
                podlogs.append_reason(pod.log, f"{outcome.reason}; the experiment failed")
            podlogs.end_line(pod.log)
        if outcome.status == _FAILED:
            logger.warning("experiment %s failed: %s", self.experiment_id, outcome.reason)
            self._report(self.experiment_id, outcome.status, outcome.reason)
        else:
            logger.info("experiment %s succeeded", self.experiment_id)
            self._report(self.experiment_id, outcome.status)

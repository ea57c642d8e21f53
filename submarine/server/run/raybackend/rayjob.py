"""One experiment's run on a Ray cluster: place it, start its replicas' actors, relay their
output into the pod logs, apply the success policy, remove everything.

:meth:`RayJob.run` (the steps of :class:`~submarine.server.run.job.Job`, on the cluster)

1. makes the experiment's placement group, one bundle per replica, and waits until Ray has
   placed all of them (gang): meanwhile the experiment stays Accepted and
   :attr:`RayJob.waiting` (and, once, its pods' logs) says why;
2. starts one :class:`~submarine.server.run.raybackend.replica.Replica` actor per bundle, named
   after its pod in the server's namespace; each reports its node and a free port, and
   the framework's cluster is built from those real addresses;
3. starts every command (each actor syncs the git code on its node first), reports
   Created then Running, and appends each replica's output to its pod log here;
4. applies the success policy as replicas exit; a replica that exits non-zero, or whose
   node leaves the cluster, fails the experiment at once;
5. stops every replica's process group, kills the actors, removes the placement group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from submarine.models import ExperimentSpec, ExperimentStatus
from submarine.server.run import podlogs
from submarine.server.run.capacity import Request, request_of
from submarine.server.run.distributed import framework_env, replica_roles, success_policy_met
from submarine.server.run.job import Job, Pod, _Outcome, marks_of
from submarine.server.run.layout import JobLayout
from submarine.server.run.processes import exit_text
from submarine.server.run.raybackend.placement import Bundle, bundle_of
from submarine.server.run.raybackend.replica import Replica

if TYPE_CHECKING:
    from submarine.server.run.raybackend.cluster import RayBackend

__all__ = ["RayJob"]

logger = logging.getLogger(__name__)

_CREATED: Final = ExperimentStatus.CREATED.value
_RUNNING: Final = ExperimentStatus.RUNNING.value
_SUCCEEDED: Final = ExperimentStatus.SUCCEEDED.value
_FAILED: Final = ExperimentStatus.FAILED.value
_FIRST_LOOK: Final = 0.5
"""Seconds before the first look at why the placement group is not ready yet."""
_LOOK_AGAIN: Final = 3.0
"""Seconds between later looks (the reason may change as nodes come and go)."""
_RELEASE_SLACK: Final = 30.0
"""Seconds, past the grace period, a replica's actor has to stop its processes."""

_ReplicaActor = ray.remote(Replica)


class RayJob(Job):
    """One experiment's run on a Ray cluster (see the module's docstring).

    Args:
        experiment_id, spec, request, pods, layout, workdir, grace, report: as for
            :class:`~submarine.server.run.job.Job`.
        backend: the connected cluster.
        on_end: called once the run is over (everything on the cluster removed).
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
        backend: RayBackend,
        on_end: Callable[[str], None],
        replica_env: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        super().__init__(
            experiment_id,
            spec,
            request,
            pods,
            layout=layout,
            workdir=workdir,
            grace=grace,
            report=report,
            replica_env=replica_env,
        )
        self._backend = backend
        self._on_end = on_end
        self.waiting: str | None = None
        """Why Ray has not placed the experiment yet; None once placed (or not yet looked)."""
        self._group: Any = None
        self._actors: dict[str, Any] = {}
        self._nodes: dict[str, tuple[str, str]] = {}
        self._started: set[str] = set()

    async def run(self) -> None:
        """Run the experiment to its end (see the module's docstring)."""
        try:
            await super().run()
        finally:
            with contextlib.suppress(Exception):
                await self._release()
            self._on_end(self.experiment_id)

    # -- the steps ----------------------------------------------------------------

    async def _execute(self) -> None:
        self._layout.prepare(self.experiment_id)
        self._write_state()
        bundles = self._bundles()
        name = self._backend.group_name(self.experiment_id)
        strategy = self._backend.strategy
        self._group = await asyncio.to_thread(
            ray.util.placement_group, bundles, strategy=strategy, name=name
        )
        if not await self._placed(bundles):
            return  # stopped before any replica ran: the experiment stays Accepted
        outcome = await self._start_replicas(bundles)
        if outcome is None:
            self._report(self.experiment_id, _CREATED)
            self._report(self.experiment_id, _RUNNING)
            logger.info(
                "experiment %s is running %d replicas on Ray nodes %s",
                self.experiment_id,
                len(self.pods),
                sorted({node for node, _ in self._nodes.values()}),
            )
            outcome = await self._watch_replicas()
        await self._finish(outcome)

    def _bundles(self) -> list[Bundle]:
        requests = {(role, index): r for role, index, r in request_of(self.spec)}
        return [bundle_of(requests[(pod.role, pod.index)]) for pod in self.pods]

    async def _placed(self, bundles: Sequence[Bundle]) -> bool:
        """Wait until Ray has placed every bundle (True) or the job is stopped (False)."""
        ready = asyncio.wrap_future(self._group.ready().future())
        stop = asyncio.ensure_future(self._stop.wait())
        timeout = _FIRST_LOOK
        try:
            while True:
                await asyncio.wait({ready, stop}, timeout=timeout, return_when="FIRST_COMPLETED")
                if ready.done():
                    ready.result()
                    self.waiting = None
                    return True
                if self._stop.is_set():
                    ready.cancel()
                    return False
                reason = await asyncio.to_thread(self._backend.unplaced_reason, bundles)
                if reason != self.waiting:
                    logger.info("experiment %s waits: %s", self.experiment_id, reason)
                    for pod in self.pods:
                        podlogs.append_reason(pod.log, f"waiting for the Ray cluster: {reason}")
                self.waiting = reason
                timeout = _LOOK_AGAIN
        finally:
            stop.cancel()

    async def _start_replicas(self, bundles: Sequence[Bundle]) -> _Outcome | None:
        """Start the actors, learn their addresses, start the commands; an outcome when one
        could not start or the job was stopped."""
        marks = list(marks_of(self._layout, self.experiment_id))
        strategy = self._group
        for index, (pod, bundle) in enumerate(zip(self.pods, bundles, strict=True)):
            self._actors[pod.name] = _ReplicaActor.options(
                name=pod.name,
                namespace=self._backend.namespace,
                num_cpus=bundle.get("CPU", 0.0),
                num_gpus=bundle.get("GPU", 0.0),
                memory=bundle.get("memory"),
                max_restarts=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=strategy, placement_group_bundle_index=index
                ),
            ).remote(pod.name, marks)
        try:
            addresses = await self._unless_stopped_value(
                asyncio.gather(*(actor.address.remote() for actor in self._actors.values()))
            )
        except ray.exceptions.RayError as exc:
            return _Outcome(_FAILED, reason=f"a replica's Ray actor could not start: {exc}")
        if addresses is None:
            return self._stopped_outcome()
        cluster: dict[str, list[str]] = {}
        for pod, (node, host, port) in zip(self.pods, addresses, strict=True):
            self._nodes[pod.name] = (node, host)
            cluster.setdefault(pod.role, []).append(f"{host}:{port}")
        starts = []
        for pod in self.pods:
            command = self._task(pod.role).cmd or self.spec.meta.cmd or ""
            cannot = f"cannot start replica {pod.name}"
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                return _Outcome(_FAILED, pod, f"{cannot}: {exc} in command {command!r}")
            if not argv:
                return _Outcome(_FAILED, pod, f"{cannot}: its command is empty")
            env = self._node_env(pod, cluster)
            actor = self._actors[pod.name]
            starts.append(actor.start.remote(argv, env, str(self._workdir), self._git()))
        try:
            problems = await self._unless_stopped_value(asyncio.gather(*starts))
        except ray.exceptions.RayError as exc:
            return _Outcome(_FAILED, reason=f"a replica's Ray actor failed: {exc}")
        if problems is None:
            return self._stopped_outcome()
        self._started = {pod.name for pod in self.pods}
        for pod, problem in zip(self.pods, problems, strict=True):
            if problem is not None:
                self._started.discard(pod.name)
                return _Outcome(_FAILED, pod, f"cannot start replica {pod.name}: {problem}")
        return None

    async def _unless_stopped_value(self, work: asyncio.Future[Any]) -> Any:
        """The result of ``work``, or None when the job is stopped first."""
        if not await self._unless_stopped(work):
            return None
        return work.result()

    def _git(self) -> dict[str, Any] | None:
        code = self.spec.code
        if code is None or code.git is None:
            return None
        return code.git.model_dump(mode="json", by_alias=True, exclude_none=True)

    def _node_env(self, pod: Pod, cluster: dict[str, list[str]]) -> dict[str, str]:
        """meta.envVars (or the role's envVars), then what the server adds (on the node,
        after the node's own environment)."""
        task = self._task(pod.role)
        env = dict(task.env_vars if task.env_vars is not None else (self.spec.meta.env_vars or {}))
        env.update(marks_of(self._layout, self.experiment_id))
        env["PYTHONUNBUFFERED"] = "1"
        if self.spec.framework is not None:
            env.update(framework_env(self.spec.framework, cluster, pod.role, pod.index))
        env["SUBMARINE_NODE"] = self._nodes[pod.name][0]
        if self._replica_env is not None:  # tracking: where to send metrics, and the key
            env.update(self._replica_env(self.experiment_id))
        return env

    async def _relay(self, pod: Pod) -> int:
        """Append a replica's output to its pod log until it exits; its exit code."""
        actor = self._actors[pod.name]
        fd = os.open(pod.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                data, code = await actor.output.remote()
                if data:
                    os.write(fd, data)
                if code is not None:
                    return int(code)
        finally:
            os.close(fd)

    async def _watch_replicas(self) -> _Outcome:
        """Wait for replicas to exit until the success policy decides, a node is lost or
        the job is stopped."""
        relays = {asyncio.ensure_future(self._relay(pod)): pod for pod in self.pods}
        stop = asyncio.ensure_future(self._stop.wait())
        roles = replica_roles(self.spec)
        done_ok: set[tuple[str, int]] = set()
        try:
            while True:
                done, _ = await asyncio.wait([*relays, stop], return_when="FIRST_COMPLETED")
                for finished in done:
                    pod = relays.pop(finished, None)
                    if pod is None:
                        continue
                    try:
                        pod.returncode = finished.result()
                    except ray.exceptions.RayError as exc:
                        return _Outcome(_FAILED, pod, await self._lost(pod, exc))
                    if pod.returncode != 0:
                        reason = f"replica {pod.name} {exit_text(pod.returncode)}"
                        return _Outcome(_FAILED, pod, reason)
                    done_ok.add((pod.role, pod.index))
                if success_policy_met(self.spec.framework, roles, done_ok) or not relays:
                    return _Outcome(_SUCCEEDED)
                if stop in done:
                    return self._stopped_outcome()
        finally:
            stop.cancel()
            for relay in relays:
                relay.cancel()

    async def _lost(self, pod: Pod, exc: Exception) -> str:
        """Why a replica's actor is gone, naming its node."""
        node, host = self._nodes.get(pod.name, ("?", "?"))
        alive = await asyncio.to_thread(self._backend.node_alive, node)
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not alive:
            return f"replica {pod.name} was lost: its Ray node {node} ({host}) left the cluster"
        return f"replica {pod.name} was lost: its Ray actor on node {node} ({host}) died: {said}"

    async def _finish(self, outcome: _Outcome) -> None:
        """Remove everything on the cluster, then say in each pod's log why it ended and
        report the final status."""
        running = [p for p in self.pods if p.name in self._started and p.returncode is None]
        await self._release()
        if outcome.status is None or self._abandoned:
            return
        self._note_stopped(outcome, running)
        for pod in self.pods:
            unstarted = pod.name not in self._started and pod is not outcome.culprit
            if outcome.status == _FAILED and unstarted:
                podlogs.append_reason(pod.log, f"{outcome.reason}; the experiment failed")
            podlogs.end_line(pod.log)
        if outcome.status == _FAILED:
            logger.warning("experiment %s failed: %s", self.experiment_id, outcome.reason)
        else:
            logger.info("experiment %s succeeded", self.experiment_id)
        self._report(self.experiment_id, outcome.status)

    async def _release(self) -> None:
        """Stop every replica's processes (their last output goes to the pod logs), kill the
        actors and remove the placement group."""
        actors, self._actors = self._actors, {}
        if actors:
            stops = [actor.stop.remote(self._grace) for actor in actors.values()]
            with contextlib.suppress(asyncio.TimeoutError):
                results = await asyncio.wait_for(
                    asyncio.gather(*stops, return_exceptions=True),
                    self._grace + _RELEASE_SLACK,
                )
                for pod in self.pods:
                    result = results[list(actors).index(pod.name)] if pod.name in actors else None
                    if isinstance(result, tuple):
                        data, code = result
                        if data:
                            with open(pod.log, "ab") as log:
                                log.write(data)
                        if pod.returncode is None and code is not None:
                            pod.returncode = int(code)
            for actor in actors.values():
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(ray.kill, actor, no_restart=True)
        group, self._group = self._group, None
        if group is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(ray.util.remove_placement_group, group)

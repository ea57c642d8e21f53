"""One experiment's replicas on a Ray cluster: placed, started as actors, watched, removed.

The job policy (:class:`~submarine.server.run.job.Job`) runs the experiment; a
:class:`RayLauncher` is how its replicas live on the cluster:

1. :meth:`RayLauncher.prepare` makes the experiment's placement group, one bundle per
   replica, and waits until Ray has placed all of them (gang), saying why while it cannot;
   it then starts one :class:`~submarine.server.run.raybackend.replica.Replica` actor per
   bundle, named after its pod in the server's namespace, learns each one's node and a
   free port there (the framework's cluster is built from those real addresses), and has
   each node clone the git code, if any, all at once;
2. :meth:`RayLauncher.start` starts one replica's command through its actor, and the
   :class:`RayReplica` handle appends the command's output to the pod log here until it
   exits; a replica whose actor dies, or whose node leaves the cluster, is lost;
3. :meth:`RayLauncher.release` stops every replica's process group (its last output goes to
   its pod log), kills the actors and removes the placement group.

The placement group and the actors are *detached*: they outlive the server, which is a Ray
driver. A server that stops leaves them running (the actor keeps the output it has not
handed over); the next start finds each actor again by its name in the server's namespace
(:meth:`RayLauncher.adopt`) and goes on appending its output to the pod log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from submarine.models import ExperimentSpec
from submarine.server.run.capacity import request_of
from submarine.server.run.job import marks_of
from submarine.server.run.launcher import Facts, LaunchError, Pod, ReplicaLostError
from submarine.server.run.layout import JobLayout
from submarine.server.run.raybackend.placement import Bundle, bundle_of
from submarine.server.run.raybackend.replica import Replica

__all__ = ["Cluster", "RayLauncher", "RayReplica"]

logger = logging.getLogger(__name__)

_FIRST_LOOK: Final = 0.5
"""Seconds before the first look at why the placement group is not ready yet."""
_LOOK_AGAIN: Final = 3.0
"""Seconds between later looks (the reason may change as nodes come and go)."""
_RELEASE_SLACK: Final = 30.0
"""Seconds, past the grace period, a replica's actor has to stop its processes."""
_LET_GO: Final = 5.0
"""Seconds a replica's actor has to give back the output of a call the server stops waiting
for."""
_RAY: Final[Any] = ray
"""Ray, for its calls that carry no type annotations."""

_ReplicaActor: Final[Any] = _RAY.remote(Replica)


class Cluster(Protocol):
    """What a launcher asks of the connected cluster
    (:class:`~submarine.server.run.raybackend.cluster.RayBackend`)."""

    @property
    def namespace(self) -> str:
        """The server's Ray namespace (the actors' names are unique in it)."""

    @property
    def strategy(self) -> str:
        """The placement strategy of every experiment's placement group."""

    def group_name(self, experiment_id: str) -> str:
        """The name of an experiment's placement group."""

    def unplaced_reason(self, bundles: Sequence[Mapping[str, float]]) -> str:
        """Why Ray cannot place ``bundles`` now (blocks: call it off the loop)."""

    def node_alive(self, node_id: str) -> bool:
        """Whether the node is in the cluster (blocks: call it off the loop)."""


class RayReplica:
    """A replica whose command runs under its actor on a node of the cluster.

    Args:
        pod: the replica's pod (its output goes to ``pod.log``).
        actor: its actor (found again by name: :attr:`facts`).
        node: (Ray node id, address) of its node.
        cluster: the connected cluster.
    """

    def __init__(self, pod: Pod, actor: Any, node: tuple[str, str], cluster: Cluster) -> None:
        self._pod = pod
        self._actor = actor
        self._node = node
        self._cluster = cluster

    @property
    def facts(self) -> Facts:
        """The actor's name and namespace, and the node it runs on."""
        return {
            "actor": self._pod.name,
            "namespace": self._cluster.namespace,
            "node": self._node[0],
        }

    async def wait(self) -> int:
        """Append the command's output to the pod log until it exits; its exit code.

        Cancelled (the server stops), it has the actor give back the output of the call it
        waits on, so that none is lost: the actor keeps the rest for the next start.
        """
        fd = os.open(self._pod.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        pending: asyncio.Future[tuple[bytes, int | None]] | None = None
        try:
            while True:
                pending = asyncio.ensure_future(self._output())
                data, code = await asyncio.shield(pending)
                pending = None
                if data:
                    os.write(fd, data)
                if code is not None:
                    return int(code)
        except ray.exceptions.RayError as exc:
            raise ReplicaLostError(await self._lost(exc)) from None
        except asyncio.CancelledError:
            if pending is not None:
                await self._let_go(pending, fd)
            raise
        finally:
            os.close(fd)

    async def _output(self) -> tuple[bytes, int | None]:
        data, code = await self._actor.output.remote()
        return data, code

    async def _let_go(self, pending: asyncio.Future[tuple[bytes, int | None]], fd: int) -> None:
        """Have the actor answer the output call now, and write what it gives back."""
        with contextlib.suppress(Exception):
            self._actor.hold.remote()
            data, _ = await asyncio.wait_for(pending, _LET_GO)
            if data:
                os.write(fd, data)

    async def _lost(self, exc: Exception) -> str:
        """Why the replica's actor is gone, naming its node."""
        node, host = self._node
        name = self._pod.name
        alive = await asyncio.to_thread(self._cluster.node_alive, node)
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not alive:
            return f"replica {name} was lost: its Ray node {node} ({host}) left the cluster"
        return f"replica {name} was lost: its Ray actor on node {node} ({host}) died: {said}"


class RayLauncher:
    """One experiment's replicas on the cluster (see the module's docstring).

    Args:
        experiment_id: the experiment.
        spec: its spec.
        pods: its pods, in order.
        cluster: the connected cluster.
        layout: where its files go.
        workdir: the working directory of replicas without synced code (on nodes that
            have it).
        grace: seconds between SIGTERM and SIGKILL.
    """

    name = "the Ray cluster"

    def __init__(
        self,
        experiment_id: str,
        spec: ExperimentSpec,
        pods: Sequence[Pod],
        *,
        cluster: Cluster,
        layout: JobLayout,
        workdir: Path,
        grace: float,
    ) -> None:
        self._experiment_id = experiment_id
        self._spec = spec
        self._pods = list(pods)
        self._cluster = cluster
        self._marks = list(marks_of(layout, experiment_id))
        self._workdir = workdir
        self._grace = grace
        self._group: Any = None
        self._actors: dict[str, Any] = {}
        self._nodes: dict[str, tuple[str, str]] = {}

    async def prepare(self, waiting: Callable[[str | None], None]) -> list[str]:
        """Place the experiment, start its actors, sync its code on their nodes; the
        address of each pod's actor."""
        bundles = self._bundles()
        name = self._cluster.group_name(self._experiment_id)
        strategy = self._cluster.strategy
        making = asyncio.ensure_future(
            asyncio.to_thread(
                _RAY.util.placement_group,
                bundles,
                strategy=strategy,
                name=name,
                lifetime="detached",  # the replicas outlive the server
            )
        )
        try:
            self._group = await asyncio.shield(making)
        except asyncio.CancelledError:
            self._group = await making  # made all the same: release removes it
            raise
        await self._placed(bundles, waiting)
        for index, (pod, bundle) in enumerate(zip(self._pods, bundles, strict=True)):
            self._actors[pod.name] = _ReplicaActor.options(
                name=pod.name,
                namespace=self._cluster.namespace,
                num_cpus=bundle.get("CPU", 0.0),
                num_gpus=bundle.get("GPU", 0.0),
                memory=bundle.get("memory"),
                max_restarts=0,
                lifetime="detached",
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=self._group, placement_group_bundle_index=index
                ),
            ).remote(pod.name, self._marks)
        actors = [self._actors[pod.name] for pod in self._pods]
        try:
            found = await asyncio.gather(*(actor.address.remote() for actor in actors))
        except ray.exceptions.RayError as exc:
            raise LaunchError(f"a replica's Ray actor could not start: {exc}") from None
        addresses = []
        for pod, (node, host, port) in zip(self._pods, found, strict=True):
            self._nodes[pod.name] = (node, host)
            addresses.append(f"{host}:{port}")
        await self._sync(actors)
        return addresses

    def _bundles(self) -> list[Bundle]:
        requests = {(role, index): r for role, index, r in request_of(self._spec)}
        return [bundle_of(requests[(pod.role, pod.index)]) for pod in self._pods]

    async def _placed(
        self, bundles: Sequence[Bundle], waiting: Callable[[str | None], None]
    ) -> None:
        """Wait until Ray has placed every bundle, saying why while it has not."""
        ready = asyncio.wrap_future(self._group.ready().future())
        timeout = _FIRST_LOOK
        try:
            while True:
                await asyncio.wait({ready}, timeout=timeout)
                if ready.done():
                    ready.result()
                    waiting(None)
                    return
                reason = await asyncio.to_thread(self._cluster.unplaced_reason, bundles)
                waiting(reason)
                timeout = _LOOK_AGAIN
        finally:
            ready.cancel()

    async def _sync(self, actors: Sequence[Any]) -> None:
        """Clone the git code, if any, on every replica's node at once."""
        code = self._spec.code
        if code is None or code.git is None:
            return
        git = code.git.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            problems = await asyncio.gather(*(actor.sync.remote(git) for actor in actors))
        except ray.exceptions.RayError as exc:
            raise LaunchError(f"a replica's Ray actor failed: {exc}") from None
        for pod, problem in zip(self._pods, problems, strict=True):
            if problem is not None:
                raise LaunchError(f"cannot start replica {pod.name}: {problem}", pod)

    async def start(
        self, pod: Pod, argv: list[str], env: Mapping[str, str], *, command: str
    ) -> RayReplica:
        """Start the replica's command through its actor, on its node."""
        node = self._nodes[pod.name]
        environ = {**env, "SUBMARINE_NODE": node[0]}
        actor = self._actors[pod.name]
        try:
            problem = await actor.start.remote(argv, environ, str(self._workdir))
        except ray.exceptions.RayError as exc:
            raise LaunchError(f"a replica's Ray actor failed: {exc}") from None
        if problem is not None:
            raise LaunchError(f"cannot start replica {pod.name}: {problem}", pod)
        return RayReplica(pod, actor, node, self._cluster)

    async def adopt(self, pod: Pod, facts: Facts) -> RayReplica:
        """Find again the actor of a replica that an earlier start of the server launched,
        by its name in the server's namespace (and the experiment's placement group)."""
        if self._group is None:
            name = self._cluster.group_name(self._experiment_id)
            with contextlib.suppress(Exception):
                self._group = await asyncio.to_thread(_RAY.util.get_placement_group, name)
        actor_name = str(facts.get("actor", pod.name))
        gone = f"replica {pod.name} was lost while the server was down: its Ray actor"
        try:
            actor = await asyncio.to_thread(
                _RAY.get_actor, actor_name, namespace=self._cluster.namespace
            )
        except ValueError:
            raise ReplicaLostError(f"{gone} {actor_name} is gone") from None
        self._actors[pod.name] = actor
        try:
            node, host, _ = await actor.address.remote()
        except ray.exceptions.RayError as exc:
            raise ReplicaLostError(f"{gone} {actor_name} died: {exc}") from None
        self._nodes[pod.name] = (str(node), str(host))
        return RayReplica(pod, actor, self._nodes[pod.name], self._cluster)

    def placement(self) -> str:
        """The Ray nodes the replicas run on."""
        return f" on Ray nodes {sorted({node for node, _ in self._nodes.values()})}"

    async def release(self) -> None:
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
                logs = {pod.name: pod.log for pod in self._pods}
                for name, result in zip(actors, results, strict=True):
                    if isinstance(result, tuple) and result[0]:
                        with open(logs[name], "ab") as log:
                            log.write(result[0])
            for actor in actors.values():
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(_RAY.kill, actor, no_restart=True)
        group, self._group = self._group, None
        if group is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(_RAY.util.remove_placement_group, group)

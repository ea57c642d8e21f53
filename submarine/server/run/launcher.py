"""The seam between the job policy and a backend: how one replica is launched, watched, stopped.

:class:`~submarine.server.run.job.Job` is the policy, written once: the order replicas start
in, the success policy, the failure reasons, what the pod logs say, when everything stops.
A :class:`Launcher` is one experiment's replicas on one backend (local processes:
:class:`~submarine.server.run.local.LocalLauncher`; a Ray cluster:
:class:`~submarine.server.run.raybackend.launcher.RayLauncher`), and a :class:`ReplicaHandle`
one started replica. A backend says nothing to the store or the pod logs of its own: it
answers, and raises :class:`LaunchError` or :class:`ReplicaLostError` with the reason.

A handle stands for a replica, not for a child of this process: it is made from facts that
outlive the server (:attr:`ReplicaHandle.facts`: a process group and the creation time of
its leader, a Ray actor's name), and learns the exit code from the backend. So a handle can
be made again, from stored facts, for a replica that a previous life of the server started.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from submarine.server.run.layout import Facts

__all__ = ["Facts", "LaunchError", "Launcher", "Pod", "ReplicaHandle", "ReplicaLostError"]


class LaunchError(Exception):
    """A replica, or the experiment, could not be launched.

    Args:
        reason: why, for the experiment's failure and the pod logs.
        culprit: the pod that could not start, if the reason is one pod's.
    """

    def __init__(self, reason: str, culprit: Pod | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.culprit = culprit


class ReplicaLostError(Exception):
    """A started replica is gone without an exit code (its node left, its actor died).

    Args:
        reason: why, naming the replica (and where it ran).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReplicaHandle(Protocol):
    """One started replica, however and wherever it runs."""

    @property
    def facts(self) -> Facts:
        """What identifies the replica to its backend (the handle can be made again from it)."""

    async def wait(self) -> int:
        """Wait until the replica exits; its exit code (negative: the signal that killed it).

        Raises :class:`ReplicaLostError` when the replica is gone and its exit code cannot be
        known. Cancelling the wait leaves the replica running.
        """


@dataclass
class Pod:
    """One replica of a job: its name, role, index, log file and gpus; its handle once it
    started, and its exit code once the job saw it exit."""

    name: str
    role: str
    index: int
    log: Path
    gpus: list[int] = field(default_factory=list)
    handle: ReplicaHandle | None = None
    returncode: int | None = None


class Launcher(Protocol):
    """One experiment's replicas on one backend: launched, watched and stopped one at a time.

    The job calls :meth:`prepare` once, then :meth:`start` for each pod in order, then waits
    on the handles, and ends with :meth:`release`. It may cancel :meth:`prepare` (the
    experiment was stopped): :meth:`release` stops what it made so far. A job that a new
    start of the server adopts calls :meth:`adopt` for each pod instead of :meth:`prepare`
    and :meth:`start`. A job that is left running when the server stops never calls
    :meth:`release`: its replicas run on, for the next start to adopt.
    """

    @property
    def name(self) -> str:
        """What the replicas run on, as the pod logs name it (``the Ray cluster``)."""

    async def prepare(self, waiting: Callable[[str | None], None]) -> Sequence[str]:
        """Make ready to start the pods (code synced, room reserved): the address
        (``host:port``) each pod gets, in pod order.

        Calls ``waiting`` with why the backend cannot place the experiment yet, again when
        the reason changes, and with None once it is placed. Raises :class:`LaunchError`.
        """

    async def start(
        self, pod: Pod, argv: list[str], env: Mapping[str, str], *, command: str
    ) -> ReplicaHandle:
        """Start one replica: ``argv`` (parsed from ``command``) with ``env`` over what the
        backend gives every replica; its output goes to ``pod.log``.

        Raises :class:`LaunchError` naming ``pod`` when it cannot start.
        """

    async def adopt(self, pod: Pod, facts: Facts) -> ReplicaHandle:
        """Find again a replica that a previous start of the server launched, from the
        facts its handle gave then (empty: none were recorded): a handle whose
        :meth:`~ReplicaHandle.wait` gives its exit code, at once if it ended meanwhile.

        Raises :class:`ReplicaLostError` when the replica is gone and its exit code cannot
        be known, or when the facts name nothing of this experiment's (a process that got
        a recorded pid since is never taken for the replica).
        """

    def placement(self) -> str:
        """Where the started replicas run, for the server's log (empty: this machine)."""

    async def release(self) -> None:
        """Stop every replica (SIGTERM, SIGKILL after the grace period) and whatever else
        the experiment holds on the backend, the replicas' last output written to their
        logs first; a second call does nothing."""

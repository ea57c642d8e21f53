"""What the scheduler asks of the others: the store, a stored experiment, a running job, a
backend's launchers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from submarine.models import ExperimentSpec
from submarine.server.run.capacity import Request
from submarine.server.run.launcher import Launcher, Pod

__all__ = ["LauncherFactory", "RunnerRecord", "RunnerStore", "RunningJob"]


class RunnerRecord(Protocol):
    """What the runner reads of a stored experiment."""

    experiment_id: str
    status: str
    spec: dict[str, Any]
    accepted_time: datetime


class RunnerStore(Protocol):
    """The part of the store the runner uses."""

    def get(self, experiment_id: str) -> RunnerRecord | None:
        """The stored experiment, or None."""

    def list(self, status: str | None = None) -> Sequence[RunnerRecord]:
        """Stored experiments, of one status, in accepted order."""

    def set_status(
        self, experiment_id: str, status: str, *, at: datetime, reason: str | None = None
    ) -> None:
        """Record a status change, its time and, for a failure, its reason."""


class RunningJob(Protocol):
    """One experiment's run as the scheduler sees it, whatever backend runs its replicas
    (a :class:`~submarine.server.run.job.Job`, its launcher local processes or a cluster's)."""

    experiment_id: str
    request: Request
    pods: list[Pod]
    waiting: str | None
    """Why the backend has not placed the experiment yet (None once placed)."""
    left: bool
    """Whether it was left with its replicas running (see :meth:`leave`)."""

    def stop(self, reason: str) -> None:
        """Stop the replicas and fail the experiment with ``reason`` (returns at once)."""

    def abandon(self) -> None:
        """Stop the replicas and report nothing more (the experiment is being deleted)."""

    def leave(self) -> None:
        """End the job, its replicas left running if they all started (else stopped, the
        experiment left Accepted)."""

    async def run(self) -> None:
        """Run the experiment to its end, reporting its statuses."""


LauncherFactory = Callable[[str, ExperimentSpec, list[Pod]], Launcher]
"""Makes the launcher of an experiment's replicas from its id, spec and pods (a backend's)."""

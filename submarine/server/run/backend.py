"""Where an experiment's replicas run: the backend seam of the runner.

The default backend is local processes (a :class:`~submarine.server.run.job.Job` with a
:class:`~submarine.server.run.local.LocalLauncher`, queued by the
:class:`~submarine.server.run.scheduler.Scheduler` against this machine's capacity); no object
stands for it. The ``ray`` backend (``--backend ray``) runs replicas as actors of a Ray
cluster (:mod:`submarine.server.run.raybackend`, imported only when chosen, from the ``ray``
extra). The REST API, the store and the client are the same with either.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from submarine.models import ExperimentSpec
from submarine.server.run.launcher import Launcher, Pod
from submarine.server.run.layout import JobLayout

__all__ = ["Backend", "load_backend"]


class Backend(Protocol):
    """A place other than this machine's processes where replicas run (a cluster)."""

    async def start(self, keep: Collection[str] = ()) -> None:
        """Connect, and remove whatever a previous run of this server left on the cluster
        but what belongs to the experiments in ``keep`` (they are adopted)."""

    def make_launcher(self, experiment_id: str, spec: ExperimentSpec, pods: list[Pod]) -> Launcher:
        """How the experiment's replicas are launched, watched and stopped on the cluster
        (the policy around them is the one :class:`~submarine.server.run.job.Job`)."""

    async def close(self) -> None:
        """Disconnect (after every job has ended)."""


def load_backend(
    settings: object,
    *,
    layout: JobLayout,
) -> Backend | None:
    """The backend the settings choose (``settings.backend``); None for local processes.

    Raises ``RuntimeError`` saying what to install when the ``ray`` backend is chosen
    without Ray.
    """
    name = str(getattr(settings, "backend", "local"))
    if name == "local":
        return None
    if name != "ray":
        raise ValueError(f"backend {name!r} is unknown: use local or ray")
    try:
        from submarine.server.run.raybackend.cluster import RayBackend
    except ImportError as exc:
        raise RuntimeError(
            f"--backend ray needs Ray ({exc}): pip install 'submarine-sdk[server,ray]'"
        ) from None
    return RayBackend(settings, layout=layout)

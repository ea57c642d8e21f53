"""The connection to the Ray cluster, and what the server's jobs ask of it.

The server is a Ray driver in a namespace of its own (``submarine-`` and a hash of its data
dir), so two servers sharing a cluster never see each other's actors. The actors and
placement groups it makes are detached: they outlive the server, so that its experiments
run on while it is down. The next start of the same server adopts those of the experiments
it left running and removes any others.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import threading
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import ray

from submarine.models import ExperimentSpec
from submarine.server.run.launcher import Pod
from submarine.server.run.layout import JobLayout
from submarine.server.run.raybackend.launcher import RayLauncher
from submarine.server.run.raybackend.placement import unplaced_reason

__all__ = ["RayBackend", "namespace_of"]

logger = logging.getLogger(__name__)

_PREFIX: Final = "submarine-"
_KEPT_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
_RAY: Final[Any] = ray
"""Ray, for its calls that carry no type annotations."""


def namespace_of(data_dir: Path) -> str:
    """The Ray namespace of the server whose data dir is ``data_dir``.

    >>> namespace_of(Path("/srv/submarine")).startswith("submarine-")
    True
    """
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()
    return f"{_PREFIX}{digest[:12]}"


class RayBackend:
    """Runs experiments on a Ray cluster (``--backend ray``).

    Args:
        settings: the server settings (``ray_address``, ``ray_placement``, ``workdir``,
            ``grace_period``, ``data_dir``).
        layout: where experiments' files go.
    """

    def __init__(
        self,
        settings: Any,
        *,
        layout: JobLayout,
    ) -> None:
        self._address = (
            getattr(settings, "ray_address", None) or os.environ.get("RAY_ADDRESS") or "auto"
        )
        self.strategy: str = str(getattr(settings, "ray_placement", "SPREAD"))
        """The placement strategy of every experiment's placement group."""
        self.namespace = namespace_of(Path(settings.data_dir))
        """The server's Ray namespace."""
        self._workdir = Path(settings.workdir)
        self._grace = float(settings.grace_period)
        self._layout = layout

    async def start(self, keep: Collection[str] = ()) -> None:
        """Connect to the cluster and remove what a previous run of this server left there
        but the actors and placement groups of the experiments in ``keep`` (blocks the loop
        while Ray connects: the server is not serving yet)."""
        # Ray makes SIGTERM exit the process at once; the server's own stop (which leaves
        # the experiments running, and says so) is kept.
        handlers = {signum: signal.getsignal(signum) for signum in _KEPT_SIGNALS}
        try:
            ray.init(
                address=self._address,
                namespace=self.namespace,
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RuntimeError(
                f"cannot connect to the Ray cluster at {self._address!r}: {exc} (start one "
                "with 'ray start --head', or give its head's host:port with --ray-address)"
            ) from None
        finally:
            if threading.current_thread() is threading.main_thread():
                for signum, handler in handlers.items():
                    if handler is not None:
                        signal.signal(signum, handler)
        removed = self._clean_leftovers(set(keep))
        resources = _RAY.cluster_resources()
        logger.info(
            "running experiments on the Ray cluster at %s (namespace %s, %d nodes, %s)%s",
            self._address,
            self.namespace,
            len(self._alive_nodes()),
            ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items()) if "node:" not in k),
            f"; removed {removed} leftover actor(s) and placement group(s)" if removed else "",
        )

    def _clean_leftovers(self, keep: set[str]) -> int:
        removed = 0
        for name in ray.util.list_named_actors():
            if any(name.startswith(f"{experiment_id}-") for experiment_id in keep):
                continue
            with contextlib.suppress(Exception):
                ray.kill(ray.get_actor(name, namespace=self.namespace), no_restart=True)
                removed += 1
        prefix = self.group_name("")
        for info in ray.util.placement_group_table().values():
            name = str(info.get("name", ""))
            if not name.startswith(prefix) or info.get("state") == "REMOVED":
                continue
            if name.removeprefix(prefix) in keep:
                continue
            with contextlib.suppress(Exception):
                ray.util.remove_placement_group(ray.util.get_placement_group(name))
                removed += 1
        return removed

    def group_name(self, experiment_id: str) -> str:
        """The name of an experiment's placement group."""
        return f"{self.namespace}/{experiment_id}"

    def make_launcher(
        self, experiment_id: str, spec: ExperimentSpec, pods: list[Pod]
    ) -> RayLauncher:
        """The experiment's replicas as actors of the cluster."""
        return RayLauncher(
            experiment_id,
            spec,
            pods,
            cluster=self,
            layout=self._layout,
            workdir=self._workdir,
            grace=self._grace,
        )

    def unplaced_reason(self, bundles: Sequence[Mapping[str, float]]) -> str:
        """Why Ray cannot place ``bundles`` now (asks the cluster: call it off the loop)."""
        nodes = [node["Resources"] for node in self._alive_nodes()]
        return unplaced_reason(bundles, self.strategy, nodes, _RAY.available_resources())

    def node_alive(self, node_id: str) -> bool:
        """Whether the node is in the cluster (asks the cluster: call it off the loop)."""
        return any(node["NodeID"] == node_id for node in self._alive_nodes())

    @staticmethod
    def _alive_nodes() -> list[dict[str, Any]]:
        return [node for node in _RAY.nodes() if node.get("Alive")]

    async def close(self) -> None:
        """Disconnect from the cluster (what runs on is left there, detached)."""
        ray.shutdown()

"""Where an experiment's files live, and the state file that outlives a crash of the server.

Everything of one experiment is under ``data_dir/experiments/<experiment id>/``, named by
its id alone (two experiments may share a name)::

    logs/<pod>.log   the pod's stdout and stderr, written by the pod itself
    tensorboard/     SUBMARINE_TENSORBOARD_LOG_DIR of every replica
    code/            the cloned repository (code.syncMode git), CODE_PATH
    tmp/             scratch space of the clone (its credential helper)
    state.json       the pods, and the process group (pgid and creation time of its
                     leader) of each, so that the next start can stop what a crashed
                     server left behind

>>> layout = JobLayout(Path("/srv/submarine"))
>>> str(layout.log_path("experiment-1-0001", "experiment-1-0001-worker-0"))
'/srv/submarine/experiments/experiment-1-0001/logs/experiment-1-0001-worker-0.log'
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JobLayout", "JobState"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobState:
    """What ``state.json`` records of an experiment.

    >>> JobState(pods=("e-worker-0",), groups=(("e-worker-0", 4242, 1.7e9),)).pgids
    ((4242, 1700000000.0),)
    """

    pods: tuple[str, ...] | None = None
    """Names of the pods that were started (None: nothing recorded)."""
    groups: tuple[tuple[str, int, float], ...] = ()
    """(name, pgid, creation time of the leader) of every process group still running."""

    @property
    def pgids(self) -> tuple[tuple[int, float], ...]:
        """(pgid, creation time) of every recorded group."""
        return tuple((pgid, created) for _, pgid, created in self.groups)


class JobLayout:
    """The files of every experiment under ``data_dir/experiments``.

    Args:
        data_dir: the server's data dir.
    """

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "experiments"

    def directory(self, experiment_id: str) -> Path:
        """The experiment's directory; ``ValueError`` for an id that is not a plain name."""
        if not experiment_id or not all(
            c.isascii() and (c.isalnum() or c in "-_") for c in experiment_id
        ):
            raise ValueError(f"experiment id {experiment_id!r} is not a valid id")
        return self.root / experiment_id

    def log_path(self, experiment_id: str, pod: str) -> Path:
        """The log file of one pod."""
        return self.directory(experiment_id) / "logs" / f"{pod}.log"

    def tensorboard_dir(self, experiment_id: str) -> Path:
        """SUBMARINE_TENSORBOARD_LOG_DIR of the experiment's replicas."""
        return self.directory(experiment_id) / "tensorboard"

    def code_dir(self, experiment_id: str) -> Path:
        """Where the experiment's code is cloned (CODE_PATH)."""
        return self.directory(experiment_id) / "code"

    def scratch_dir(self, experiment_id: str) -> Path:
        """Scratch space of the experiment's clone."""
        return self.directory(experiment_id) / "tmp"

    def prepare(self, experiment_id: str) -> None:
        """Create the experiment's directories (logs, tensorboard)."""
        (self.directory(experiment_id) / "logs").mkdir(parents=True, exist_ok=True)
        self.tensorboard_dir(experiment_id).mkdir(exist_ok=True)

    def exists(self, experiment_id: str) -> bool:
        """Whether the experiment has a directory."""
        return self.directory(experiment_id).exists()

    def discard(self, experiment_id: str) -> None:
        """Delete everything of the experiment (nothing happens if there is nothing)."""
        shutil.rmtree(self.directory(experiment_id), ignore_errors=True)

    def write_state(
        self,
        experiment_id: str,
        pods: Sequence[str],
        groups: Mapping[str, tuple[int, float]],
    ) -> None:
        """Record the pods and the running process groups (name -> (pgid, creation time)),
        atomically: a crash leaves the old state or the new one."""
        state = {"pods": list(pods), "groups": {name: list(g) for name, g in groups.items()}}
        path = self.directory(experiment_id) / "state.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, path)

    def read_state(self, experiment_id: str) -> JobState:
        """What the state file records; an empty state when there is none or it is unreadable
        (unreadable process records are logged and ignored)."""
        try:
            text = (self.directory(experiment_id) / "state.json").read_text(encoding="utf-8")
            state = json.loads(text)
        except (OSError, ValueError):
            return JobState()
        if not isinstance(state, dict):
            return JobState()
        pods = state.get("pods")
        names = tuple(str(name) for name in pods) if isinstance(pods, list) else None
        recorded = state.get("groups", {})
        try:
            groups = tuple(
                (str(name), int(pgid), float(created)) for name, (pgid, created) in recorded.items()
            )
        except (AttributeError, TypeError, ValueError):
            logger.warning("experiment %s: unreadable process records %r", experiment_id, recorded)
            groups = ()
        return JobState(names, groups)

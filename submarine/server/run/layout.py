"""Where an experiment's files live, and the state file that outlives a crash of the server.

Everything of one experiment is under ``data_dir/experiments/<experiment id>/``, named by
its id alone (two experiments may share a name)::

    logs/<pod>.log   the pod's stdout and stderr, written by the pod itself
    tensorboard/     SUBMARINE_TENSORBOARD_LOG_DIR of every replica
    code/            the cloned repository (code.syncMode git), CODE_PATH
    tmp/             scratch space of the clone (its credential helper)
    exits/<pod>.json the exit code of a replica that ended, written by its supervisor
                     (:mod:`~submarine.server.run.supervisor`), whether the server runs
                     or not
    state.json       the pods, the process group (pgid and creation time of its leader)
                     of each, and each started replica's facts (:class:`ReplicaRecord`),
                     so that the next start finds them again: it adopts the replicas
                     still running, or stops what is left of an experiment that did not
                     start in full

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Facts", "JobLayout", "JobState", "ReplicaRecord"]

Facts = Mapping[str, str | int | float]
"""What identifies a running replica to its backend, enough to find it again later."""


@dataclass(frozen=True)
class ReplicaRecord:
    """What the state file keeps of one started replica, to find it again after a restart.

    >>> ReplicaRecord("worker", 0, (), {"pgid": 4242}).facts["pgid"]
    4242
    """

    role: str
    """Its role, as the spec names it."""
    index: int
    """Its index in the role."""
    gpus: tuple[int, ...]
    """The gpus it was given."""
    facts: Facts
    """What its backend needs to find it again (see
    :attr:`~submarine.server.run.launcher.ReplicaHandle.facts`)."""

    def to_json(self) -> dict[str, Any]:
        """The record as the state file holds it."""
        return {
            "role": self.role,
            "index": self.index,
            "gpus": list(self.gpus),
            "facts": dict(self.facts),
        }

    @classmethod
    def from_json(cls, value: Any) -> ReplicaRecord:
        """A record read back; ``ValueError`` (or ``TypeError``) when it is not one."""
        facts = value["facts"]
        if not isinstance(facts, dict) or not all(
            isinstance(v, str | int | float) for v in facts.values()
        ):
            raise ValueError(f"facts {facts!r} are not a mapping of plain values")
        return cls(
            str(value["role"]),
            int(value["index"]),
            tuple(int(g) for g in value["gpus"]),
            {str(k): v for k, v in facts.items()},
        )


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
    replicas: Mapping[str, ReplicaRecord] = field(default_factory=dict)
    """The started replicas, by pod name."""
    request: tuple[int, int, int] | None = None
    """What the run asked of the machine: (millicores, bytes, gpus); None: not recorded."""

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

    def exit_path(self, experiment_id: str, pod: str) -> Path:
        """Where the supervisor of a pod's replica records its exit code."""
        return self.directory(experiment_id) / "exits" / f"{pod}.json"

    def prepare(self, experiment_id: str) -> None:
        """Create the experiment's directories (logs, tensorboard, exits)."""
        (self.directory(experiment_id) / "logs").mkdir(parents=True, exist_ok=True)
        self.tensorboard_dir(experiment_id).mkdir(exist_ok=True)
        (self.directory(experiment_id) / "exits").mkdir(exist_ok=True)

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
        atomically: a crash leaves the old state or the new one. What else the state
        records (replicas, request) is kept."""
        self._update(
            experiment_id,
            pods=list(pods),
            groups={name: list(g) for name, g in groups.items()},
        )

    def write_run(self, experiment_id: str, pods: Sequence[str], request: Sequence[int]) -> None:
        """Record a new run: its pods and what it asks of the machine; no replica yet."""
        self._update(experiment_id, pods=list(pods), request=list(request), replicas={}, groups={})

    def record_replica(self, experiment_id: str, pod: str, record: ReplicaRecord) -> None:
        """Record a started replica (atomically, as :meth:`write_state`)."""
        replicas = self._read(experiment_id).get("replicas")
        replicas = dict(replicas) if isinstance(replicas, dict) else {}
        replicas[pod] = record.to_json()
        self._update(experiment_id, replicas=replicas)

    def _read(self, experiment_id: str) -> dict[str, Any]:
        try:
            text = (self.directory(experiment_id) / "state.json").read_text(encoding="utf-8")
            state = json.loads(text)
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _update(self, experiment_id: str, **changes: Any) -> None:
        state = {**self._read(experiment_id), **changes}
        path = self.directory(experiment_id) / "state.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, path)

    def read_state(self, experiment_id: str) -> JobState:
        """What the state file records; an empty state when there is none or it is unreadable
        (unreadable process and replica records are logged and ignored)."""
        state = self._read(experiment_id)
        if not state:
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
        found = state.get("replicas")
        replicas = {}
        for pod, value in (found if isinstance(found, dict) else {}).items():
            try:
                replicas[str(pod)] = ReplicaRecord.from_json(value)
            except (KeyError, TypeError, ValueError):
                logger.warning("experiment %s: unreadable replica record %r", experiment_id, value)
        return JobState(names, groups, replicas, _request(state.get("request")))


def _request(value: Any) -> tuple[int, int, int] | None:
    """(millicores, bytes, gpus) as the state file records them; None if it does not."""
    if not isinstance(value, list) or len(value) != 3:
        return None
    try:
        cpu, memory, gpus = (int(v) for v in value)
    except (TypeError, ValueError):
        return None
    return cpu, memory, gpus

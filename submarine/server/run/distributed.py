"""Per-framework environment of distributed training, as the Kubernetes training operators set it.

Pure functions: given the roles of an experiment and the address of every replica, they
say what each replica sees. On one machine every replica listens on ``127.0.0.1`` with a
port of its own (the operators give every pod the same port on its own host), so where the
operators write host names this module writes ``host:port`` addresses.

>>> cluster = cluster_addresses([("Master", 1), ("Worker", 2)], [29500, 29501, 29502])
>>> env = framework_env(Framework.PYTORCH, cluster, "Worker", 1)
>>> env["MASTER_ADDR"], env["MASTER_PORT"], env["WORLD_SIZE"], env["RANK"]
('127.0.0.1', '29500', '3', '2')
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from contextlib import suppress
from typing import Any, Final

from submarine.models import ROLES, ExperimentSpec, Framework

__all__ = [
    "LOCALHOST",
    "cluster_addresses",
    "framework_env",
    "ordered_roles",
    "pod_name",
    "replica_roles",
    "stored_pod_names",
    "success_policy_met",
]

LOCALHOST: Final = "127.0.0.1"
"""The address every replica listens on: the server binds nothing else for them."""


def pod_name(experiment_id: str, role: str, index: int) -> str:
    """The name of one replica, as Submarine names pods: ``{experimentId}-{role lower}-{index}``."""
    return f"{experiment_id}-{role.lower()}-{index}"


def replica_roles(spec: ExperimentSpec) -> list[tuple[str, int]]:
    """The roles of a spec with their replica counts, in the framework's role order.

    Role names are canonical (``Ps``, ``Worker``...) whatever case the spec used.
    """
    return ordered_roles(spec.framework, [(key, task.replicas) for key, task in spec.spec.items()])


def ordered_roles(
    framework: Framework | None, replicas: Sequence[tuple[str, int]]
) -> list[tuple[str, int]]:
    """(role, replicas) in the framework's role order, with canonical role names; roles the
    framework does not know follow in the order given.

    >>> ordered_roles(Framework.PYTORCH, [("worker", 2), ("master", 1)])
    [('Master', 1), ('Worker', 2)]
    """
    known = ROLES[framework] if framework else ()
    order = {role.lower(): i for i, role in enumerate(known)}
    canonical = {role.lower(): role for role in known}
    keyed = [
        (order.get(key.lower(), len(order) + pos), canonical.get(key.lower(), key), count)
        for pos, (key, count) in enumerate(replicas)
    ]
    return [(role, count) for _, role, count in sorted(keyed)]


def stored_pod_names(experiment_id: str, spec: Mapping[str, Any]) -> list[str]:
    """The pod names of a stored spec, read as plainly as possible: a spec that no longer
    validates still names its pods (so reasons can be written into their logs).

    >>> stored_pod_names("e-1", {"meta": {"framework": "TensorFlow"},
    ...                          "spec": {"worker": {"replicas": 2}, "ps": {}}})
    ['e-1-ps-0', 'e-1-worker-0', 'e-1-worker-1']
    """
    meta = spec.get("meta")
    named = meta.get("framework") if isinstance(meta, Mapping) else None
    framework = None
    if isinstance(named, str):
        with suppress(ValueError):
            framework = Framework.parse(named)
    roles = spec.get("spec")
    replicas = []
    for role, task in roles.items() if isinstance(roles, Mapping) else ():
        count = task.get("replicas", 1) if isinstance(task, Mapping) else 1
        valid = isinstance(count, int) and not isinstance(count, bool) and count >= 0
        replicas.append((str(role), count if valid else 1))
    return [
        pod_name(experiment_id, role, index)
        for role, count in ordered_roles(framework, replicas)
        for index in range(count)
    ]


def cluster_addresses(
    roles: Sequence[tuple[str, int]], ports: Sequence[int], host: str = LOCALHOST
) -> dict[str, list[str]]:
    """The ``host:port`` of every replica, per role, taking ``ports`` in order.

    ``roles`` is what :func:`replica_roles` returns; ``ports`` has one port per replica.
    """
    needed = sum(count for _, count in roles)
    if len(ports) != needed:
        raise ValueError(f"{needed} replicas need {needed} ports, got {len(ports)}")
    cluster: dict[str, list[str]] = {}
    it = iter(ports)
    for role, count in roles:
        cluster[role] = [f"{host}:{next(it)}" for _ in range(count)]
    return cluster


def _split(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host, port


def framework_env(
    framework: Framework, cluster: Mapping[str, Sequence[str]], role: str, index: int
) -> dict[str, str]:
    """The distributed-training variables replica ``index`` of ``role`` sees.

    ``cluster`` maps canonical role names to replica addresses, in role order (see
    :func:`cluster_addresses`).

    * TensorFlow, only when the experiment has more than one replica: ``TF_CONFIG`` =
      ``{"cluster": {role lower: [addr, ...]}, "task": {"type": role lower, "index": i},
      "environment": "cloud"}``.
    * PyTorch: ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE`` (every replica), ``RANK``
      (the Master 0, Worker i -> i + number of masters) and torchrun's ``PET_MASTER_ADDR``,
      ``PET_MASTER_PORT``, ``PET_NNODES``, ``PET_NODE_RANK``.
    * XGBoost: the same four as PyTorch, and, when there are workers, ``WORKER_ADDRS``
      (every worker's ``host:port``, comma-separated) and ``WORKER_PORT`` (this replica's
      own port: on one machine each worker needs a port of its own).

    Without a Master (PyTorch, XGBoost) worker 0 is the rendezvous address.
    """
    world_size = sum(len(addrs) for addrs in cluster.values())
    if framework is Framework.TENSORFLOW:
        if world_size <= 1:
            return {}
        tf_config = {
            "cluster": {name.lower(): list(addrs) for name, addrs in cluster.items()},
            "task": {"type": role.lower(), "index": index},
            "environment": "cloud",
        }
        return {"TF_CONFIG": json.dumps(tf_config)}

    masters = list(cluster.get("Master", []))
    workers = list(cluster.get("Worker", []))
    rendezvous = masters[0] if masters else workers[0]
    master_host, master_port = _split(rendezvous)
    rank = index + (len(masters) if role == "Worker" else 0)
    env = {
        "MASTER_ADDR": master_host,
        "MASTER_PORT": master_port,
        "WORLD_SIZE": str(world_size),
        "RANK": str(rank),
    }
    if framework is Framework.PYTORCH:
        env.update(
            PET_MASTER_ADDR=master_host,
            PET_MASTER_PORT=master_port,
            PET_NNODES=str(world_size),
            PET_NODE_RANK=str(rank),
        )
    elif workers:
        env["WORKER_ADDRS"] = ",".join(workers)
        env["WORKER_PORT"] = _split(cluster[role][index])[1]
    return env


def success_policy_met(
    framework: Framework | None,
    roles: Sequence[tuple[str, int]],
    succeeded: Set[tuple[str, int]],
) -> bool:
    """Whether the replicas that exited 0 so far make the experiment Succeeded.

    The training operators' policy: TensorFlow succeeds when its Chief (or, without one,
    its Master) exits 0, or, with neither, when every Worker has; PyTorch and XGBoost when
    the Master exits 0 (without one, every Worker). With none of those roles, every replica
    must exit 0.

    Args:
        framework: the experiment's framework.
        roles: (role, replicas) as :func:`replica_roles` returns them.
        succeeded: (role, index) of every replica that exited 0.
    """
    names = [role for role, _ in roles]
    leaders = ("Chief", "Master") if framework is Framework.TENSORFLOW else ("Master",)
    for leader in leaders:
        if leader in names:
            return (leader, 0) in succeeded
    deciding = [role for role in names if role == "Worker"] or names
    return all(
        (role, index) in succeeded
        for role, count in roles
        if role in deciding
        for index in range(count)
    )

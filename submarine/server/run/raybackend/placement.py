"""An experiment's placement group: one bundle per replica, and why Ray cannot place it yet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from submarine.server.run.capacity import Request, format_bytes, format_cpus

__all__ = ["Bundle", "bundle_of", "unplaced_reason"]

Bundle = dict[str, float]
"""Ray resources of one replica: ``CPU``, ``GPU`` and ``memory`` (bytes)."""

_NO_RESOURCES: Final = 0.01
"""CPUs asked for a replica that asks for nothing (Ray refuses an empty bundle)."""
_NAMES: Final = {"CPU": "cpus", "GPU": "gpus", "memory": "memory"}


def bundle_of(request: Request) -> Bundle:
    """The bundle of a replica's request (``nvidia.com/gpu`` is Ray's ``GPU``).

    >>> bundle_of(Request(cpu_millis=500, memory_bytes=1024, gpus=1))
    {'CPU': 0.5, 'memory': 1024.0, 'GPU': 1.0}
    """
    bundle: Bundle = {}
    if request.cpu_millis:
        bundle["CPU"] = request.cpu_millis / 1000
    if request.memory_bytes:
        bundle["memory"] = float(request.memory_bytes)
    if request.gpus:
        bundle["GPU"] = float(request.gpus)
    return bundle or {"CPU": _NO_RESOURCES}


def _amount(resource: str, value: float) -> str:
    if resource == "memory":
        return format_bytes(int(value))
    if resource == "CPU":
        return format_cpus(round(value * 1000))
    return f"{value:g}"


def _name(resource: str) -> str:
    return _NAMES.get(resource, resource)


def unplaced_reason(
    bundles: Sequence[Mapping[str, float]],
    strategy: str,
    nodes: Sequence[Mapping[str, float]],
    available: Mapping[str, float],
) -> str:
    """Why Ray has not placed ``bundles`` yet, from the alive ``nodes``' total resources
    and the cluster's ``available`` ones.

    >>> unplaced_reason([{"GPU": 1.0}], "SPREAD", [{"CPU": 2.0}], {"CPU": 2.0})
    'Ray cannot place its 1 replica yet (SPREAD): needs 1 gpus in all, the cluster has 0'
    """
    problems: list[str] = []
    needs: dict[str, float] = {}
    for bundle in bundles:
        for resource, value in bundle.items():
            needs[resource] = needs.get(resource, 0.0) + value
    for resource, value in sorted(needs.items()):
        total = sum(node.get(resource, 0.0) for node in nodes)
        if value > total:
            problems.append(
                f"needs {_amount(resource, value)} {_name(resource)} in all, "
                f"the cluster has {_amount(resource, total)}"
            )
    for bundle in bundles:
        fits = any(all(node.get(r, 0.0) >= v for r, v in bundle.items()) for node in nodes)
        if not fits and not problems:
            what = ", ".join(f"{_amount(r, v)} {_name(r)}" for r, v in sorted(bundle.items()))
            problems.append(f"a replica needs {what} on one node, and no node has that much")
            break
    if strategy == "STRICT_SPREAD" and len(bundles) > len(nodes):
        problems.append(f"STRICT_SPREAD needs {len(bundles)} nodes, the cluster has {len(nodes)}")
    if not problems:
        short = [
            f"{_amount(r, v)} {_name(r)} (free: {_amount(r, available.get(r, 0.0))})"
            for r, v in sorted(needs.items())
            if v > available.get(r, 0.0)
        ]
        problems.append(
            "waiting for other work to free "
            + (", ".join(short) if short else "room on the nodes it needs")
        )
    count = len(bundles)
    return (
        f"Ray cannot place its {count} replica{'s' if count != 1 else ''} yet ({strategy}): "
        + "; ".join(problems)
    )

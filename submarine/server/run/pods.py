"""An experiment's pods: made from its spec when it starts, or read back from its state file
when the next start of the server adopts its run.

>>> from submarine.models import ExperimentSpec
>>> spec = ExperimentSpec.model_validate({"meta": {"name": "x", "framework": "TensorFlow",
...     "cmd": "true"}, "environment": {"image": "local"},
...     "spec": {"Worker": {"replicas": 2}, "Ps": {"replicas": 1}}})
>>> [pod.name for pod in pods_of(JobLayout(Path("/d")), "experiment-1-0001", spec, [])]
['experiment-1-0001-ps-0', 'experiment-1-0001-worker-0', 'experiment-1-0001-worker-1']
"""

from __future__ import annotations

from collections.abc import Callable

from submarine.models import ExperimentSpec
from submarine.server.run.capacity import Request, request_of
from submarine.server.run.distributed import pod_name, replica_roles
from submarine.server.run.launcher import Pod
from submarine.server.run.layout import JobLayout, JobState

__all__ = ["pods_of", "recorded_pods", "recorded_request"]


def pods_of(
    layout: JobLayout, experiment_id: str, spec: ExperimentSpec, free: list[int]
) -> list[Pod]:
    """The experiment's pods in the framework's role order, each given the gpus it asks
    for from ``free`` (indices, in order)."""
    pods = []
    for role, index, pod_request in sorted(request_of(spec), key=_role_order(spec)):
        name = pod_name(experiment_id, role, index)
        gpus, free = free[: pod_request.gpus], free[pod_request.gpus :]
        pods.append(Pod(name, role, index, layout.log_path(experiment_id, name), gpus))
    return pods


def recorded_pods(
    layout: JobLayout, experiment_id: str, spec: ExperimentSpec, state: JobState
) -> list[Pod]:
    """The pods of the run that ``state`` records, as they ran: their roles, indices and
    gpus (the stored spec may have been patched since; a pod without a record is made from
    the spec)."""
    derived = {pod.name: pod for pod in pods_of(layout, experiment_id, spec, [])}
    pods = []
    for name in state.pods or list(derived):
        found = state.replicas.get(name)
        log = layout.log_path(experiment_id, name)
        if found is not None:
            pods.append(Pod(name, found.role, found.index, log, list(found.gpus)))
        else:
            pods.append(derived.get(name) or Pod(name, "", 0, log))
    return pods


def recorded_request(spec: ExperimentSpec, state: JobState) -> Request:
    """What the run that ``state`` records asks of the machine (else what ``spec`` asks)."""
    if state.request is not None:
        return Request(*state.request)
    return Request.total(r for _, _, r in request_of(spec))


def _role_order(spec: ExperimentSpec) -> Callable[[tuple[str, int, Request]], tuple[int, int]]:
    """Sort key of ``request_of`` items: the framework's role order, then the index."""
    rank = {role: i for i, (role, _) in enumerate(replica_roles(spec))}
    return lambda item: (rank.get(item[0], len(rank)), item[1])

"""How an experiment is created, whatever asked for it: one path for ``POST
/api/v1/experiment`` and for a submitted template (``POST /api/v1/experiment/{template}``).

:func:`runnable_spec` judges a spec document (the models' rules and this server's: its
replica limit, the machine's capacity, a
named environment that exists); :func:`create_experiment` stores the spec as
Accepted and queues it, created at once as on Submarine 0.8.0.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from submarine.models import ExperimentSpec, ExperimentStatus
from submarine.server.api.rest import ApiError
from submarine.server.api.services import Services
from submarine.server.api.wire import SpecError, experiment_payload, read_spec, stored_spec
from submarine.server.store.experiments import ExperimentRecord

__all__ = ["answer", "create_experiment", "runnable_spec"]


def runnable_spec(document: Any, services: Services) -> ExperimentSpec:
    """The validated spec of a document, that this server can run; a 400 naming every
    problem otherwise."""
    try:
        spec = read_spec(document)
    except SpecError as exc:
        raise ApiError(400, str(exc)) from None
    problem = services["runner"].capacity_problem(spec)
    if problem is not None:
        raise ApiError(400, f"the experiment can never run on this server: {problem}")
    name = spec.environment.name
    if name is not None and services["environments"].get(name) is None:
        raise ApiError(
            400,
            f"environment.name: no environment named {name!r} on this server: create it "
            "first (POST /api/v1/environment, or `submarine environment create`), or "
            "leave environment.name out",
        )
    return spec


def create_experiment(spec: ExperimentSpec, services: Services) -> ExperimentRecord:
    """Store ``spec`` as a new Accepted experiment (created at once, as on 0.8.0) and queue
    it; its record."""
    store, runner = services["store"], services["runner"]
    experiment_id = store.next_experiment_id()
    accepted = datetime.now().astimezone()
    record = ExperimentRecord(
        experiment_id=experiment_id,
        uid=str(uuid.uuid4()),
        name=spec.meta.name.lower(),
        status=ExperimentStatus.ACCEPTED.value,
        spec=stored_spec(spec, experiment_id),
        accepted_time=accepted,
        created_time=accepted,
    )
    store.insert(record)
    runner.submit(experiment_id)
    return record


def answer(record: ExperimentRecord, services: Services) -> dict[str, Any]:
    """The Experiment answer of a stored experiment, with why it waits if it does (which
    only the runner knows)."""
    waiting = None
    if record.status == ExperimentStatus.ACCEPTED.value:
        waiting = services["runner"].waiting_reason(record.experiment_id)
    return experiment_payload(record, reason=waiting)

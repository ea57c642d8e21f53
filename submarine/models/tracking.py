"""What training jobs record: metrics (a number per step and worker) and params.

The shapes are those of Submarine 0.8.0's workbench (``/api/metric``, ``/api/param``):
a metric is ``{id, key, value, workerIndex, timestamp, step, isNan}``, where ``id`` is the
experiment id and ``timestamp`` milliseconds since the epoch; a param is
``{id, key, value, workerIndex}``.
"""

from __future__ import annotations

from submarine.models._base import PayloadModel

__all__ = ["Metric", "Param"]


class Metric(PayloadModel):
    """One recorded value of a metric, as a server sends it.

    >>> Metric.model_validate({"id": "experiment-1-0001", "key": "loss", "value": 0.5,
    ...     "workerIndex": "worker-0", "timestamp": 1700000000000, "step": 3}).step
    3
    """

    id: str
    """The experiment id."""
    key: str
    """The metric's name, e.g. ``loss``."""
    value: float | None = None
    """The value (None when the server stored a NaN as null)."""
    worker_index: str | None = None
    """Which replica logged it, e.g. ``worker-0`` or ``ps-1``."""
    timestamp: int | None = None
    """When it was logged, in milliseconds since the epoch."""
    step: int | None = None
    """The training step it belongs to."""
    is_nan: bool | None = None
    """Whether the value was NaN."""


class Param(PayloadModel):
    """One recorded parameter of a run, as a server sends it.

    >>> Param.model_validate({"id": "experiment-1-0001", "key": "lr", "value": "0.1",
    ...     "workerIndex": "worker-0"}).value
    '0.1'
    """

    id: str
    """The experiment id."""
    key: str
    """The parameter's name, e.g. ``learning_rate``."""
    value: str | None = None
    """Its value, as text."""
    worker_index: str | None = None
    """Which replica logged it."""

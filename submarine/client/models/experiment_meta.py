"""0.8.0's import path of :class:`submarine.models.ExperimentMeta` (the same class)."""

from submarine.models.spec import ExperimentMeta

__all__ = ["ExperimentMeta"]

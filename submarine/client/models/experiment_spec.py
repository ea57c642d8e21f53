"""0.8.0's import path of :class:`submarine.models.ExperimentSpec` (the same class)."""

from submarine.models.spec import ExperimentSpec

__all__ = ["ExperimentSpec"]

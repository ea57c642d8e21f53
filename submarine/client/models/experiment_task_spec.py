"""0.8.0's import path of :class:`submarine.models.ExperimentTaskSpec` (the same class)."""

from submarine.models.spec import ExperimentTaskSpec

__all__ = ["ExperimentTaskSpec"]

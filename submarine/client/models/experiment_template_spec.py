"""0.8.0's import path of :class:`submarine.models.ExperimentTemplateSpec` (the same class)."""

from submarine.models.template import ExperimentTemplateSpec

__all__ = ["ExperimentTemplateSpec"]

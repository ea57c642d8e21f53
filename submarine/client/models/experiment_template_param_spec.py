"""0.8.0's import path of :class:`submarine.models.ExperimentTemplateParamSpec` (the same class)."""

from submarine.models.template import ExperimentTemplateParamSpec

__all__ = ["ExperimentTemplateParamSpec"]

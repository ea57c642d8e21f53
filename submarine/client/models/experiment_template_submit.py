"""0.8.0's import path of :class:`submarine.models.ExperimentTemplateSubmit` (the same class)."""

from submarine.models.template import ExperimentTemplateSubmit

__all__ = ["ExperimentTemplateSubmit"]

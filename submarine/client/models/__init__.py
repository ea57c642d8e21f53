"""Submarine 0.8.0's ``submarine.client.models`` modules, as aliases of the typed models.

``from submarine.client.models.experiment_spec import ExperimentSpec`` gives
:class:`submarine.models.ExperimentSpec`, and so on for ``code_spec``, ``environment_spec``,
``experiment_meta``, ``experiment_task_spec``, ``git_code_spec``, ``kernel_spec`` and the
templates' ``experiment_template_spec``, ``experiment_template_param_spec`` and
``experiment_template_submit``: the same classes, built with 0.8.0's snake_case keywords
(``ExperimentMeta(env_vars=...)``) and validated before anything is sent.
``json_response`` gives the answer object of the generated API classes
(:class:`submarine.client.JsonResponse`). Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from submarine._exports import lazy_exports

if TYPE_CHECKING:
    from submarine.client.models.code_spec import CodeSpec
    from submarine.client.models.environment_spec import EnvironmentSpec
    from submarine.client.models.experiment_meta import ExperimentMeta
    from submarine.client.models.experiment_spec import ExperimentSpec
    from submarine.client.models.experiment_task_spec import ExperimentTaskSpec
    from submarine.client.models.experiment_template_param_spec import (
        ExperimentTemplateParamSpec,
    )
    from submarine.client.models.experiment_template_spec import ExperimentTemplateSpec
    from submarine.client.models.experiment_template_submit import ExperimentTemplateSubmit
    from submarine.client.models.git_code_spec import GitCodeSpec
    from submarine.client.models.json_response import JsonResponse
    from submarine.client.models.kernel_spec import KernelSpec

_LAZY: dict[str, str] = {
    "CodeSpec": "submarine.client.models.code_spec",
    "EnvironmentSpec": "submarine.client.models.environment_spec",
    "ExperimentMeta": "submarine.client.models.experiment_meta",
    "ExperimentSpec": "submarine.client.models.experiment_spec",
    "ExperimentTaskSpec": "submarine.client.models.experiment_task_spec",
    "ExperimentTemplateParamSpec": "submarine.client.models.experiment_template_param_spec",
    "ExperimentTemplateSpec": "submarine.client.models.experiment_template_spec",
    "ExperimentTemplateSubmit": "submarine.client.models.experiment_template_submit",
    "GitCodeSpec": "submarine.client.models.git_code_spec",
    "JsonResponse": "submarine.client.models.json_response",
    "KernelSpec": "submarine.client.models.kernel_spec",
}

__all__ = [
    "CodeSpec",
    "EnvironmentSpec",
    "ExperimentMeta",
    "ExperimentSpec",
    "ExperimentTaskSpec",
    "ExperimentTemplateParamSpec",
    "ExperimentTemplateSpec",
    "ExperimentTemplateSubmit",
    "GitCodeSpec",
    "JsonResponse",
    "KernelSpec",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

"""The typed domain model of Submarine experiments: pure data and validation, no I/O.

Two kinds of types, never mixed:

* **Input types** -- what a user submits: :class:`ExperimentSpec` and its parts
  (:class:`ExperimentMeta`, :class:`EnvironmentSpec`, :class:`ExperimentTaskSpec` alias
  :class:`ReplicaSpec`, :class:`CodeSpec`, :class:`GitCodeSpec`, :class:`KernelSpec`).
  Strict: what they accept, Submarine 0.8.0 accepts and runs as meant; anything else is
  refused with every problem at once, each naming its wire path, the value and the fix
  (:func:`problems_of` lists them). They dump the canonical body that is sent.
* **Payload types** -- what a server sends: :class:`Experiment`, :class:`ExperimentLog`,
  :class:`PodLog` and the spec inside an experiment, :class:`ExperimentSpecPayload` (with
  ``ExperimentMetaPayload``, ``ExperimentTaskSpecPayload``... in
  :mod:`submarine.models.payloads`). Plain types that refuse nothing a server may say and
  keep unknown keys at every level, however they are parsed; ``to_dict()`` gives back
  exactly what was received, times as their text included (:class:`WireTime`).

Environments (:mod:`submarine.models.environment`): :class:`EnvironmentDefinition` (with
:class:`KernelDefinition`) is what is stored, an :class:`EnvironmentSpec` with a name;
:class:`Environment` is what a server answers.

A spec read back from a server is submitted again through the input type:
``ExperimentSpec.model_validate(experiment.spec)`` validates it and drops what only
servers write (``resourceMap``). The rules of single fields are reusable ``Annotated``
types in :mod:`submarine.models.rules`.

What replicas send to a server's tracking endpoints, and how it is read, is the tracking
contract, :mod:`submarine.models.trackwire` (standard library only).

Names load on first use: importing one module of the package (the tracking contract in a
training process) does not import pydantic and every model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from submarine.models._base import InputModel, PayloadModel, WireModel
    from submarine.models._errors import Problem, problems_of
    from submarine.models._files import SpecFileError, load_document, parse_document
    from submarine.models.artifact import Artifact, ServiceInfo
    from submarine.models.environment import (
        Environment,
        EnvironmentDefinition,
        KernelDefinition,
    )
    from submarine.models.experiment import (
        TERMINAL_STATUSES,
        Experiment,
        ExperimentList,
        ExperimentLog,
        ExperimentStatus,
        PodLog,
        parse_status,
    )
    from submarine.models.payloads import (
        CodeSpecPayload,
        EnvironmentSpecPayload,
        ExperimentMetaPayload,
        ExperimentSpecPayload,
        ExperimentTaskSpecPayload,
        GitCodeSpecPayload,
        KernelSpecPayload,
    )
    from submarine.models.resources import ResourceError, Resources
    from submarine.models.spec import (
        ROLES,
        CodeSpec,
        EnvironmentSpec,
        ExperimentMeta,
        ExperimentSpec,
        ExperimentTaskSpec,
        Framework,
        GitCodeSpec,
        KernelSpec,
        ReplicaSpec,
    )
    from submarine.models.template import (
        ExperimentTemplate,
        ExperimentTemplateId,
        ExperimentTemplateParamSpec,
        ExperimentTemplateParamSpecPayload,
        ExperimentTemplateSpec,
        ExperimentTemplateSpecPayload,
        ExperimentTemplateSubmit,
        TemplateFillError,
    )
    from submarine.models.times import WireTime, format_time
    from submarine.models.tracking import Metric, Param

_LAZY: dict[str, str] = {
    "TemplateFillError": "submarine.models.template",
    "ExperimentTemplateSubmit": "submarine.models.template",
    "ExperimentTemplateSpecPayload": "submarine.models.template",
    "ExperimentTemplateSpec": "submarine.models.template",
    "ExperimentTemplateParamSpecPayload": "submarine.models.template",
    "ExperimentTemplateParamSpec": "submarine.models.template",
    "ExperimentTemplateId": "submarine.models.template",
    "ExperimentTemplate": "submarine.models.template",
    "Artifact": "submarine.models.artifact",
    "ServiceInfo": "submarine.models.artifact",
    "CodeSpec": "submarine.models.spec",
    "CodeSpecPayload": "submarine.models.payloads",
    "Environment": "submarine.models.environment",
    "EnvironmentDefinition": "submarine.models.environment",
    "EnvironmentSpec": "submarine.models.spec",
    "EnvironmentSpecPayload": "submarine.models.payloads",
    "Experiment": "submarine.models.experiment",
    "ExperimentList": "submarine.models.experiment",
    "ExperimentLog": "submarine.models.experiment",
    "ExperimentMeta": "submarine.models.spec",
    "ExperimentMetaPayload": "submarine.models.payloads",
    "ExperimentSpec": "submarine.models.spec",
    "ExperimentSpecPayload": "submarine.models.payloads",
    "ExperimentStatus": "submarine.models.experiment",
    "ExperimentTaskSpec": "submarine.models.spec",
    "ExperimentTaskSpecPayload": "submarine.models.payloads",
    "Framework": "submarine.models.spec",
    "GitCodeSpec": "submarine.models.spec",
    "GitCodeSpecPayload": "submarine.models.payloads",
    "InputModel": "submarine.models._base",
    "KernelDefinition": "submarine.models.environment",
    "KernelSpec": "submarine.models.spec",
    "KernelSpecPayload": "submarine.models.payloads",
    "Metric": "submarine.models.tracking",
    "Param": "submarine.models.tracking",
    "PayloadModel": "submarine.models._base",
    "PodLog": "submarine.models.experiment",
    "Problem": "submarine.models._errors",
    "ROLES": "submarine.models.spec",
    "ReplicaSpec": "submarine.models.spec",
    "ResourceError": "submarine.models.resources",
    "Resources": "submarine.models.resources",
    "SpecFileError": "submarine.models._files",
    "TERMINAL_STATUSES": "submarine.models.experiment",
    "WireModel": "submarine.models._base",
    "WireTime": "submarine.models.times",
    "format_time": "submarine.models.times",
    "load_document": "submarine.models._files",
    "parse_document": "submarine.models._files",
    "parse_status": "submarine.models.experiment",
    "problems_of": "submarine.models._errors",
}
"""Each exported name and the module it lives in."""

__all__ = [
    "ROLES",
    "TERMINAL_STATUSES",
    "Artifact",
    "CodeSpec",
    "CodeSpecPayload",
    "Environment",
    "EnvironmentDefinition",
    "EnvironmentSpec",
    "EnvironmentSpecPayload",
    "Experiment",
    "ExperimentList",
    "ExperimentLog",
    "ExperimentMeta",
    "ExperimentMetaPayload",
    "ExperimentSpec",
    "ExperimentSpecPayload",
    "ExperimentStatus",
    "ExperimentTaskSpec",
    "ExperimentTaskSpecPayload",
    "ExperimentTemplate",
    "ExperimentTemplateId",
    "ExperimentTemplateParamSpec",
    "ExperimentTemplateParamSpecPayload",
    "ExperimentTemplateSpec",
    "ExperimentTemplateSpecPayload",
    "ExperimentTemplateSubmit",
    "Framework",
    "GitCodeSpec",
    "GitCodeSpecPayload",
    "InputModel",
    "KernelDefinition",
    "KernelSpec",
    "KernelSpecPayload",
    "Metric",
    "Param",
    "PayloadModel",
    "PodLog",
    "Problem",
    "ReplicaSpec",
    "ResourceError",
    "Resources",
    "ServiceInfo",
    "SpecFileError",
    "TemplateFillError",
    "WireModel",
    "WireTime",
    "format_time",
    "load_document",
    "parse_document",
    "parse_status",
    "problems_of",
]


def __getattr__(name: str) -> Any:
    """Import an exported name from its module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The exported names with what is loaded."""
    return sorted(set(globals()) | set(__all__))

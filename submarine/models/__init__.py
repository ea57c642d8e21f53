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

A spec read back from a server is submitted again through the input type:
``ExperimentSpec.model_validate(experiment.spec)`` validates it and drops what only
servers write (``resourceMap``). The rules of single fields are reusable ``Annotated``
types in :mod:`submarine.models.rules`.
"""

from submarine.models._base import InputModel, PayloadModel, WireModel
from submarine.models._errors import Problem, problems_of
from submarine.models._files import SpecFileError, load_document, parse_document
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
from submarine.models.times import WireTime, format_time
from submarine.models.tracking import Metric, Param

__all__ = [
    "ROLES",
    "TERMINAL_STATUSES",
    "CodeSpec",
    "CodeSpecPayload",
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
    "Framework",
    "GitCodeSpec",
    "GitCodeSpecPayload",
    "InputModel",
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
    "SpecFileError",
    "WireModel",
    "WireTime",
    "format_time",
    "load_document",
    "parse_document",
    "parse_status",
    "problems_of",
]

"""The typed domain model of Submarine experiments: pure data and validation, no I/O.

Specs are validated strictly (every problem at once, each with its wire-name path);
server payloads are parsed leniently and dump back to exactly what was received.
"""

from submarine.models._base import LENIENT, WireModel
from submarine.models._errors import Problem, problems_of
from submarine.models._files import SpecFileError, load_document, parse_document
from submarine.models.experiment import (
    TERMINAL_STATUSES,
    Experiment,
    ExperimentList,
    ExperimentLog,
    ExperimentStatus,
    PodLog,
    format_time,
    parse_status,
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
from submarine.models.tracking import Metric, Param

__all__ = [
    "LENIENT",
    "ROLES",
    "TERMINAL_STATUSES",
    "CodeSpec",
    "EnvironmentSpec",
    "Experiment",
    "ExperimentList",
    "ExperimentLog",
    "ExperimentMeta",
    "ExperimentSpec",
    "ExperimentStatus",
    "ExperimentTaskSpec",
    "Framework",
    "GitCodeSpec",
    "KernelSpec",
    "Metric",
    "Param",
    "PodLog",
    "Problem",
    "ReplicaSpec",
    "ResourceError",
    "Resources",
    "SpecFileError",
    "WireModel",
    "format_time",
    "load_document",
    "parse_document",
    "parse_status",
    "problems_of",
]

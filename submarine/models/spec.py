"""The experiment spec: what a user submits, validated before it leaves the machine."""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final

from pydantic import BeforeValidator, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from submarine.models._base import WireModel, custom_error, is_lenient
from submarine.models.resources import ResourceError, Resources

__all__ = [
    "ROLES",
    "CodeSpec",
    "EnvironmentSpec",
    "ExperimentMeta",
    "ExperimentSpec",
    "ExperimentTaskSpec",
    "Framework",
    "GitCodeSpec",
    "KernelSpec",
    "ReplicaSpec",
]


class Framework(str, enum.Enum):
    """The training frameworks Submarine runs, in their canonical spelling."""

    TENSORFLOW = "TensorFlow"
    PYTORCH = "PyTorch"
    XGBOOST = "XGBoost"

    @classmethod
    def parse(cls, value: str) -> Framework:
        """Match a framework name case-insensitively (``"tensorflow"`` -> TensorFlow)."""
        for member in cls:
            if member.value.lower() == value.strip().lower():
                return member
        raise ValueError(
            f"unsupported framework {value!r}: choose one of " + ", ".join(m.value for m in cls)
        )

    @property
    def roles(self) -> tuple[str, ...]:
        """The role names (replica types) of this framework, canonically spelled."""
        return ROLES[self]

    def __str__(self) -> str:
        return self.value


ROLES: Final[Mapping[Framework, tuple[str, ...]]] = {
    Framework.TENSORFLOW: ("Ps", "Worker", "Chief", "Master", "Evaluator"),
    Framework.PYTORCH: ("Master", "Worker"),
    Framework.XGBOOST: ("Master", "Worker"),
}
"""Roles of each framework: the Kubernetes training operators' replica types."""

_SINGLE_ROLES: Final[Mapping[Framework, Mapping[str, str]]] = {
    Framework.TENSORFLOW: {"Chief": "at most 1", "Master": "at most 1", "Evaluator": "at most 1"},
    Framework.PYTORCH: {"Master": "exactly 1"},
    Framework.XGBOOST: {"Master": "exactly 1"},
}

_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _check_name(value: Any, info: ValidationInfo) -> Any:
    if is_lenient(info) or not isinstance(value, str):
        return value
    if len(value) > 63:
        raise _error(
            "experiment_name",
            f"name {value[:20]!r}... is {len(value)} characters long: at most 63 are allowed "
            "(it becomes a Kubernetes label value)",
        )
    if not _NAME_RE.match(value):
        raise _error(
            "experiment_name",
            f"name {value!r} is not valid: use letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit (it becomes a Kubernetes label value)",
        )
    return value


def _check_env_vars(value: Any, info: ValidationInfo) -> Any:
    if is_lenient(info) or not isinstance(value, Mapping):
        return value
    problems = []
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
            problems.append(
                f"{key!r} is not an environment variable name "
                "(letters, digits, '_', '.', '-', not starting with a digit)"
            )
        if not isinstance(item, str):
            problems.append(f"the value of {key!r} is {item!r}: values must be strings")
    if problems:
        raise _error("env_vars", "; ".join(problems))
    return value


ExperimentName = Annotated[str, BeforeValidator(_check_name)]
"""An experiment name: at most 63 of letters, digits, '-', '_', '.'; alphanumeric ends."""

EnvVars = Annotated[dict[str, str], BeforeValidator(_check_env_vars)]
"""Environment variables: valid names, string values."""


class KernelSpec(WireModel):
    """The conda/pip environment of a predefined Submarine environment."""

    name: str | None = None
    """Name of the kernel (conda environment)."""
    channels: list[str] | None = None
    """Conda channels to install from."""
    conda_dependencies: list[str] | None = None
    """Conda packages, like 'numpy=1.24'."""
    pip_dependencies: list[str] | None = None
    """Pip packages, like 'scikit-learn==1.3'."""


class EnvironmentSpec(WireModel):
    """Where replicas run: an anonymous ``image`` or the ``name`` of a predefined environment.

    >>> EnvironmentSpec(image="apache/submarine:tf-mnist-with-summaries-1.0").to_dict()
    {'image': 'apache/submarine:tf-mnist-with-summaries-1.0'}
    """

    name: str | None = None
    """Name of a predefined Submarine environment."""
    docker_image: str | None = None
    """Docker image of a predefined environment."""
    kernel_spec: KernelSpec | None = None
    """Conda/pip kernel of a predefined environment."""
    description: str | None = None
    """Free text about the environment."""
    image: str | None = None
    """Container image of every replica (an anonymous environment)."""


class GitCodeSpec(WireModel):
    """A git repository whose code is synced into every replica before it starts."""

    url: str
    """Repository URL (https://, ssh or file://)."""
    branch: str = "main"
    """Branch to check out."""
    username: str | None = None
    """User name for a private repository."""
    password: str | None = None
    """Password or token for a private repository; never echoed in logs."""
    trust_certs: bool | None = None
    """Trust the server's TLS certificate without verification."""


class CodeSpec(WireModel):
    """How code reaches the replicas. Submarine implements only ``syncMode: git``."""

    sync_mode: str
    """How code is synced into replicas; Submarine implements 'git'."""
    git: GitCodeSpec | None = None
    """The repository, when syncMode is 'git'."""

    @field_validator("sync_mode", mode="before")
    @classmethod
    def _sync_mode(cls, value: Any, info: ValidationInfo) -> Any:
        if is_lenient(info) or not isinstance(value, str):
            return value
        if value.lower() != "git":
            raise _error(
                "sync_mode",
                f"syncMode {value!r} is not supported: Submarine implements only 'git' "
                "(hdfs, nfs and s3 are not implemented by the server)",
            )
        return "git"

    def _cross_check(self) -> list[InitErrorDetails]:
        if self.sync_mode == "git" and self.git is None:
            return [
                custom_error(
                    "missing_git",
                    "syncMode 'git' needs a 'git' section with at least a 'url'",
                    ("git",),
                    None,
                )
            ]
        return []


class ExperimentTaskSpec(WireModel):
    """One role of an experiment (a "replica spec"): how many replicas, what each gets.

    >>> task = ExperimentTaskSpec(replicas=2, resources="cpu=1,memory=1024M")
    >>> task.resource_map
    {'cpu': '1', 'memory': '1024M'}
    """

    replicas: int = 1
    """Number of replicas (processes/pods) of this role, at least 1."""
    resources: str | None = None
    """Requests of each replica: 'cpu=1,memory=1024M,nvidia.com/gpu=1'."""
    name: str | None = None
    """Optional display name of the role."""
    image: str | None = None
    """Container image of this role; overrides environment.image."""
    cmd: str | None = None
    """Command of this role; overrides meta.cmd."""
    env_vars: EnvVars | None = None
    """Environment of this role; replaces meta.envVars for it."""
    resource_map: dict[str, str] | None = None
    """resources as a mapping; derived by the server."""

    @field_validator("replicas", mode="before")
    @classmethod
    def _replicas(cls, value: Any, info: ValidationInfo) -> Any:
        if is_lenient(info):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _error(
                "replicas",
                f"replicas must be a whole number of at least 1, got {value!r}"
                + (" (a string is not converted)" if isinstance(value, str) else ""),
            )
        return value

    @field_validator("resources", mode="before")
    @classmethod
    def _resources(cls, value: Any, info: ValidationInfo) -> Any:
        if is_lenient(info) or value is None:
            return value
        try:
            if isinstance(value, Resources):
                return str(value)
            if isinstance(value, Mapping):
                return str(Resources.from_mapping(value))
            if isinstance(value, str):
                return str(Resources.parse(value))
        except ResourceError as exc:
            raise _error("resources", str(exc)) from None
        raise _error(
            "resources",
            f"resources must be a string like 'cpu=1,memory=1024M' or a mapping, got {value!r}",
        )

    @model_validator(mode="before")
    @classmethod
    def _resources_from_map(cls, data: Any, info: ValidationInfo) -> Any:
        if is_lenient(info) or not isinstance(data, Mapping) or "resources" in data:
            return data
        given = data.get("resourceMap", data.get("resource_map"))
        # An empty map (what the server stores for a role without resources) asks nothing.
        return {**data, "resources": given} if isinstance(given, Mapping) and given else data

    def _after_strict(self) -> None:
        if self.resources is not None:
            # Derived, not set: the dict shape stays what the user wrote.
            self.__dict__["resource_map"] = Resources.parse(self.resources).as_map()

    @property
    def parsed_resources(self) -> Resources:
        """The typed resources of one replica (empty when none were asked for)."""
        if self.resources:
            try:
                return Resources.parse(self.resources)
            except ResourceError:
                pass
        return Resources.from_mapping(self.resource_map or {})


ReplicaSpec = ExperimentTaskSpec
"""Another name of :class:`ExperimentTaskSpec`, as the training operators call it."""


class ExperimentMeta(WireModel):
    """What an experiment is: its name, framework, default command and environment."""

    experiment_id: str | None = None
    """Set by the server on create and patch."""
    name: ExperimentName
    """Experiment name: at most 63 letters, digits, '-', '_', '.'; lower-cased by the server."""
    namespace: str | None = None
    """Kubernetes namespace; the server uses its own."""
    framework: str
    """Training framework: TensorFlow, PyTorch or XGBoost (any case)."""
    cmd: str | None = None
    """Entry command of every role that has no cmd of its own."""
    env_vars: EnvVars | None = None
    """Default environment of every role that has no envVars of its own."""
    tags: list[str] | None = None
    """Free-form tags."""

    @field_validator("framework", mode="before")
    @classmethod
    def _framework(cls, value: Any, info: ValidationInfo) -> Any:
        if is_lenient(info) or not isinstance(value, str):
            return value
        try:
            return Framework.parse(value)
        except ValueError as exc:
            raise _error("framework", str(exc)) from None

    @property
    def framework_type(self) -> Framework | None:
        """The framework as a :class:`Framework`, or None when a server sent another."""
        try:
            return Framework.parse(self.framework)
        except ValueError:
            return None


class ExperimentSpec(WireModel):
    """Everything Submarine needs to run an experiment; validated as a whole.

    >>> spec = ExperimentSpec.model_validate({
    ...     "meta": {"name": "mnist", "framework": "tensorflow", "cmd": "python train.py"},
    ...     "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    ...     "spec": {"worker": {"replicas": 2, "resources": "cpu=1,memory=1024M"}},
    ... })
    >>> spec.framework, list(spec.spec)
    (<Framework.TENSORFLOW: 'TensorFlow'>, ['Worker'])
    """

    _ignored_keys: ClassVar[frozenset[str]] = frozenset({"$schema"})

    meta: ExperimentMeta
    """Name, framework, command and environment variables."""
    environment: EnvironmentSpec
    """Where replicas run: an image or a predefined environment."""
    spec: dict[str, ExperimentTaskSpec]
    """The roles of the experiment (Ps, Worker, Chief, Master, Evaluator) and their replicas."""
    code: CodeSpec | None = None
    """Code synced into every replica before it starts."""
    experiment_handler_spec: dict[str, str] | None = None
    """Server-specific handler settings."""

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ExperimentSpec:
        """Load and validate a spec from a ``.json``, ``.yaml`` or ``.yml`` file."""
        from submarine.models._files import load_document

        return cls.model_validate(load_document(path))

    def _cross_check(self) -> list[InitErrorDetails]:
        problems: list[InitErrorDetails] = []
        framework = self.meta.framework_type
        if not self.spec:
            problems.append(
                custom_error(
                    "roles",
                    "spec has no roles: give at least one, like {'Worker': {'replicas': 1}}",
                    ("spec",),
                    {},
                )
            )
        if framework is not None:
            canonical = {r.lower(): r for r in framework.roles}
            seen: dict[str, str] = {}
            for key, task in self.spec.items():
                role = canonical.get(str(key).lower())
                if role is None:
                    problems.append(
                        custom_error(
                            "role",
                            f"{key!r} is not a role of {framework.value}: its roles are "
                            + ", ".join(framework.roles),
                            ("spec", key),
                            key,
                        )
                    )
                    continue
                if role in seen:
                    problems.append(
                        custom_error(
                            "role",
                            f"role {role} is given twice ({seen[role]!r} and {key!r})",
                            ("spec", key),
                            key,
                        )
                    )
                seen[role] = key
                rule = _SINGLE_ROLES[framework].get(role)
                replicas = task.replicas if isinstance(task, ExperimentTaskSpec) else None
                if rule and isinstance(replicas, int) and replicas > 1:
                    problems.append(
                        custom_error(
                            "replicas",
                            f"{framework.value} {role} must have {rule} replica, got {replicas}",
                            ("spec", key, "replicas"),
                            replicas,
                        )
                    )
        tasks = [t for t in self.spec.values() if isinstance(t, ExperimentTaskSpec)]
        if not self.meta.cmd and tasks and any(not t.cmd for t in tasks):
            missing = [str(k) for k, t in self.spec.items() if not getattr(t, "cmd", None)]
            problems.append(
                custom_error(
                    "cmd",
                    "no command: set meta.cmd, or a cmd on every role (missing on "
                    + ", ".join(missing)
                    + ")",
                    ("meta", "cmd"),
                    None,
                )
            )
        env = self.environment
        if not (env.image or env.name or env.docker_image) and any(not t.image for t in tasks):
            problems.append(
                custom_error(
                    "image",
                    "no image: set environment.image, the name of a predefined "
                    "environment.name, or an image on every role",
                    ("environment", "image"),
                    None,
                )
            )
        return problems

    def _after_strict(self) -> None:
        framework = self.meta.framework_type
        if framework is None:
            return
        canonical = {r.lower(): r for r in framework.roles}
        if any(canonical[k.lower()] != k for k in self.spec):
            self.spec = {canonical[k.lower()]: v for k, v in self.spec.items()}

    @property
    def framework(self) -> Framework | None:
        """The experiment's framework, typed."""
        return self.meta.framework_type

    @property
    def total_replicas(self) -> int:
        """How many replica processes the experiment runs, over all roles."""
        return sum(t.replicas for t in self.spec.values())

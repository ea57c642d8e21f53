"""The experiment spec a user submits: input types, validated before it leaves the machine.

What they accept, Submarine 0.8.0 accepts and runs as meant; the body they send is the
canonical form (roles and framework spelled as the server needs, numbers where it reads
numbers, nothing it refuses such as ``resourceMap``). The rules of single fields are the
``Annotated`` types of :mod:`submarine.models.rules`; the rules across fields are in
:func:`spec_problems`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from submarine.models._base import InputModel, custom_error
from submarine.models.payloads import ExperimentSpecPayload, find_framework, task_resources
from submarine.models.resources import Resources
from submarine.models.rules import (
    ROLES,
    SINGLE_ROLES,
    Command,
    EnvVars,
    ExperimentName,
    Framework,
    FrameworkName,
    GitBranch,
    GitUrl,
    ImageName,
    Replicas,
    ResourceText,
    SyncMode,
)

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
    "spec_problems",
]


class KernelSpec(InputModel):
    """The conda/pip environment of a predefined Submarine environment."""

    name: str | None = None
    """Name of the kernel (conda environment)."""
    channels: list[str] | None = None
    """Conda channels to install from."""
    conda_dependencies: list[str] | None = None
    """Conda packages, like 'numpy=1.24'."""
    pip_dependencies: list[str] | None = None
    """Pip packages, like 'scikit-learn==1.3'."""


class EnvironmentSpec(InputModel):
    """Where replicas run: the container ``image`` (or an image on every role).

    A predefined environment's ``name`` only adds its conda kernel to the containers, and
    ``dockerImage`` is never read: only ``image`` gives the containers an image.

    >>> EnvironmentSpec(image="apache/submarine:tf-mnist-with-summaries-1.0").to_dict()
    {'image': 'apache/submarine:tf-mnist-with-summaries-1.0'}
    """

    name: str | None = None
    """Name of a predefined Submarine environment (adds its conda kernel)."""
    docker_image: str | None = None
    """Docker image of a predefined environment; Submarine 0.8.0 never reads it."""
    kernel_spec: KernelSpec | None = None
    """Conda/pip kernel of a predefined environment."""
    description: str | None = None
    """Free text about the environment."""
    image: ImageName | None = None
    """Container image of every replica."""


class GitCodeSpec(InputModel):
    """A git repository whose code is synced into every replica before it starts."""

    _missing_hints: ClassVar[Mapping[str, str]] = {
        "url": "the repository's URL, like 'https://github.com/org/repo.git'"
    }

    url: GitUrl
    """Repository URL: https://, http://, ssh://, git:// or file://."""
    branch: GitBranch = "main"
    """Branch to check out; null or blank means 'main'."""
    username: str | None = None
    """User name for a private repository."""
    password: str | None = None
    """Password or token for a private repository; never echoed in logs."""
    trust_certs: bool | None = None
    """Trust the server's TLS certificate without verification."""


class CodeSpec(InputModel):
    """How code reaches the replicas: a git repository (``syncMode`` is always git)."""

    _missing_hints: ClassVar[Mapping[str, str]] = {
        "git": "Submarine syncs code only from git: give {'url': 'https://host/repo.git'}"
    }

    sync_mode: SyncMode = "git"
    """How code is synced into replicas: 'git' (the only mode that syncs code)."""
    git: GitCodeSpec
    """The repository."""

    def _normalise(self) -> None:
        # Sent even when not given: the server reads a missing syncMode as git anyway.
        self.__pydantic_fields_set__.add("sync_mode")


class ExperimentTaskSpec(InputModel):
    """One role of an experiment (a "replica spec"): how many replicas, what each gets.

    >>> task = ExperimentTaskSpec(replicas=2, resources="cpu=1,memory=1024M")
    >>> task.resource_map
    {'cpu': '1', 'memory': '1024M'}
    """

    _missing_hints: ClassVar[Mapping[str, str]] = {
        "resources": "every role needs resources, like 'cpu=1,memory=1024M' "
        "(Submarine 0.8.0 fails with HTTP 500 on a role without them)"
    }
    _unset_when_none: ClassVar[frozenset[str]] = frozenset({"env_vars"})

    replicas: Replicas = 1
    """Number of replicas (processes/pods) of this role, at least 1."""
    resources: ResourceText
    """Requests of each replica: 'cpu=1,memory=1024M,nvidia.com/gpu=1'."""
    name: str | None = None
    """Optional display name of the role."""
    image: ImageName | None = None
    """Container image of this role; overrides environment.image."""
    cmd: Command | None = None
    """Command of this role; overrides meta.cmd."""
    env_vars: EnvVars | None = None
    """Environment of this role; replaces meta.envVars (and the server's JOB_ID) for it."""
    resource_map: dict[str, str] | None = Field(default=None, exclude=True)
    """resources as a mapping: derived, accepted from an answer, never sent."""

    @model_validator(mode="before")
    @classmethod
    def _resources_from_map(cls, data: Any) -> Any:
        """A role read from an answer may carry only its ``resourceMap``; a null
        ``resources`` is a missing one."""
        if not isinstance(data, Mapping) or data.get("resources") is not None:
            return data
        given = data.get("resourceMap", data.get("resource_map"))
        rest = {k: v for k, v in data.items() if k != "resources"}
        return {**rest, "resources": given} if isinstance(given, Mapping) and given else rest

    def _normalise(self) -> None:
        # Derived, not set: never sent, and the dict shape stays what the user wrote.
        self.__dict__["resource_map"] = Resources.parse(self.resources).as_map()

    @property
    def parsed_resources(self) -> Resources:
        """The typed resources of one replica."""
        return task_resources(self.resources, self.resource_map)


ReplicaSpec = ExperimentTaskSpec
"""Another name of :class:`ExperimentTaskSpec`, as the training operators call it."""


class ExperimentMeta(InputModel):
    """What an experiment is: its name, framework, default command and environment."""

    _missing_hints: ClassVar[Mapping[str, str]] = {
        "name": "the experiment's name, like 'mnist'",
        "framework": "one of " + ", ".join(f.value for f in Framework),
    }
    _unset_when_none: ClassVar[frozenset[str]] = frozenset({"env_vars"})

    experiment_id: str | None = None
    """Set by the server on create and patch."""
    name: ExperimentName
    """Experiment name: at most 63 letters, digits, '-', '_', '.'; lower-cased by the server."""
    namespace: str | None = None
    """Kubernetes namespace; the server uses its own."""
    framework: FrameworkName
    """Training framework: TensorFlow, PyTorch or XGBoost (any case; sent canonical)."""
    cmd: Command | None = None
    """Entry command of every role that has no cmd of its own."""
    env_vars: EnvVars | None = None
    """Default environment of every role that has no envVars of its own."""
    tags: list[str] | None = None
    """Free-form tags."""

    @property
    def framework_type(self) -> Framework | None:
        """The framework as a :class:`Framework`."""
        return find_framework(self.framework)


def _at_least_one_role(roles: dict[str, ExperimentTaskSpec]) -> dict[str, ExperimentTaskSpec]:
    if not roles:
        raise PydanticCustomError(
            "roles",
            "spec has no roles: give at least one, like "
            "{'Worker': {'replicas': 1, 'resources': 'cpu=1,memory=1024M'}}",
        )
    return roles


Roles = Annotated[dict[str, ExperimentTaskSpec], AfterValidator(_at_least_one_role)]
"""The roles of an experiment, at least one."""


class ExperimentSpec(InputModel):
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
    _missing_hints: ClassVar[Mapping[str, str]] = {
        "meta": "the experiment's name, framework and command, like "
        "{'name': 'mnist', 'framework': 'TensorFlow', 'cmd': 'python train.py'}",
        "environment": "where replicas run, like {'image': 'python:3.11'}",
        "spec": "the roles, like {'Worker': {'replicas': 1, 'resources': 'cpu=1,memory=1024M'}}",
    }

    meta: ExperimentMeta
    """Name, framework, command and environment variables."""
    environment: EnvironmentSpec
    """Where replicas run: the container image."""
    spec: Roles
    """The roles of the experiment (Ps, Worker, Chief, Master, Evaluator) and their replicas."""
    code: CodeSpec | None = None
    """Code synced into every replica before it starts."""
    experiment_handler_spec: dict[str, str] | None = None
    """Server-specific handler settings (TensorFlow: needs a Ps role)."""

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ExperimentSpec:
        """Load and validate a spec from a ``.json``, ``.yaml`` or ``.yml`` file."""
        from submarine.models._files import load_document

        return cls.model_validate(load_document(path))

    @classmethod
    def _problems(
        cls, instance: ExperimentSpec | None, data: Mapping[Any, Any]
    ) -> list[InitErrorDetails]:
        subject = instance if instance is not None else _readable_part(data)
        return spec_problems(subject) if subject is not None else []

    def _normalise(self) -> None:
        framework = self.framework
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


# -- rules across fields --------------------------------------------------------------


def _drop(data: Any, loc: tuple[str | int, ...]) -> None:
    """Remove the value at ``loc`` from nested dicts and lists, if it is there."""
    for part in loc[:-1]:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return
    if loc and isinstance(data, dict):
        data.pop(loc[-1], None)


def _readable_part(data: Mapping[Any, Any]) -> ExperimentSpecPayload | None:
    """An invalid spec read as a payload without the values that do not fit, so that the
    rules across fields are checked and reported with the other problems."""
    try:
        current: Any = copy.deepcopy(dict(data))
    except RecursionError:
        # Nested too deep to copy: the other problems are reported without the rules.
        return None
    for _ in range(8):
        try:
            return ExperimentSpecPayload.model_validate(current, from_attributes=True)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                _drop(current, tuple(err["loc"]))
        except RecursionError:
            return None
    return None


def _problem(kind: str, message: str, *loc: str | int, value: Any = None) -> InitErrorDetails:
    return custom_error(kind, message, loc, value)


def _role_problems(spec: ExperimentSpec | ExperimentSpecPayload) -> list[InitErrorDetails]:
    """Roles of the framework, each once, with the replicas the training operator takes."""
    framework = spec.meta.framework_type
    if framework is None:
        return []
    problems: list[InitErrorDetails] = []
    canonical = {r.lower(): r for r in framework.roles}
    seen: dict[str, str] = {}
    for key, task in (spec.spec or {}).items():
        role = canonical.get(str(key).lower())
        if role is None:
            problems.append(
                _problem(
                    "role",
                    f"{key!r} is not a role of {framework.value}: its roles are "
                    + ", ".join(framework.roles),
                    "spec",
                    key,
                    value=key,
                )
            )
            continue
        if role in seen:
            problems.append(
                _problem(
                    "role",
                    f"role {role} is given twice ({seen[role]!r} and {key!r}): give it once",
                    "spec",
                    key,
                    value=key,
                )
            )
        seen[role] = key
        rule = SINGLE_ROLES[framework].get(role)
        replicas = task.replicas or 1
        if rule and replicas > 1:
            problems.append(
                _problem(
                    "replicas",
                    f"{framework.value} {role} must have {rule} replica, got {replicas}",
                    "spec",
                    key,
                    "replicas",
                    value=replicas,
                )
            )
    if framework is Framework.TENSORFLOW and "Chief" in seen and "Master" in seen:
        problems.append(
            _problem(
                "roles",
                "TensorFlow cannot have both Chief and Master: the training operator never "
                "runs such a job; keep one of them",
                "spec",
                seen["Master"],
                value=seen["Master"],
            )
        )
    if framework is Framework.XGBOOST and "Master" not in seen:
        problems.append(
            _problem(
                "roles",
                f"XGBoost needs exactly one Master, got roles {', '.join(seen) or 'none'}: "
                "the training operator never runs a job without one; add "
                "{'Master': {'replicas': 1, 'resources': ...}}",
                "spec",
                value=list(seen),
            )
        )
    handler = spec.experiment_handler_spec
    if framework is Framework.TENSORFLOW and handler is not None and "Ps" not in seen:
        problems.append(
            _problem(
                "handler",
                "experimentHandlerSpec on TensorFlow needs a Ps role (Submarine 0.8.0 fails "
                "with HTTP 500 without one): add a Ps role, or leave experimentHandlerSpec out",
                "experimentHandlerSpec",
                value=handler,
            )
        )
    return problems


def spec_problems(spec: ExperimentSpec | ExperimentSpecPayload) -> list[InitErrorDetails]:
    """The problems of a spec's rules across fields: roles of the framework, their
    replicas, a command and an image for every role."""
    problems = _role_problems(spec)
    roles = spec.spec or {}
    no_cmd = [str(k) for k, task in roles.items() if not task.cmd]
    if not spec.meta.cmd and no_cmd:
        problems.append(
            _problem(
                "cmd",
                "no command: set meta.cmd, or a cmd on every role (missing on "
                + ", ".join(no_cmd)
                + ")",
                "meta",
                "cmd",
                value=spec.meta.cmd,
            )
        )
    env = spec.environment
    no_image = [str(k) for k, task in roles.items() if not task.image]
    if not env.image and no_image:
        named = [f"{key}={value!r}" for key, value in (("name", env.name),) if value]
        named += [f"dockerImage={env.docker_image!r}"] if env.docker_image else []
        verb = "gives" if len(named) == 1 else "give"
        why = (
            f" ({' and '.join(named)} {verb} no image: only 'image' gives the containers one)"
            if named
            else ""
        )
        problems.append(
            _problem(
                "image",
                "no image: set environment.image, or an image on every role (missing on "
                + ", ".join(no_image)
                + ")"
                + why,
                "environment",
                "image",
                value=env.image,
            )
        )
    return problems

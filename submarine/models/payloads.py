"""A spec as a server reports it (``Experiment.spec``): plain payload types.

Every field is optional, unknown keys are kept at every level, and nothing is judged, so
a spec a server sent always parses and ``to_dict()`` gives it back unchanged (nulls and
``resourceMap`` included). To submit such a spec again, it is validated by the input type:
``ExperimentSpec.model_validate(experiment.spec)``, or pass it to ``create_experiment``,
which does that and never sends ``resourceMap``.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from submarine.models._base import PayloadModel
from submarine.models.resources import ResourceError, Resources
from submarine.models.rules import Framework

__all__ = [
    "CodeSpecPayload",
    "EnvironmentSpecPayload",
    "ExperimentMetaPayload",
    "ExperimentSpecPayload",
    "ExperimentTaskSpecPayload",
    "GitCodeSpecPayload",
    "KernelSpecPayload",
    "find_framework",
    "task_resources",
]


def find_framework(name: str | None) -> Framework | None:
    """The framework a name means in any case, or None for an unknown or missing one."""
    if not isinstance(name, str):
        return None
    try:
        return Framework.parse(name)
    except ValueError:
        return None


def task_resources(resources: str | None, resource_map: Mapping[str, str] | None) -> Resources:
    """The typed resources of a role: from ``resources``, else from ``resourceMap``; empty
    when neither can be read."""
    if resources:
        try:
            return Resources.parse(resources)
        except ResourceError:
            pass
    if resource_map:
        try:
            return Resources.from_mapping(resource_map)
        except ResourceError:
            pass
    return Resources()


class KernelSpecPayload(PayloadModel):
    """The conda/pip kernel of a predefined environment, as a server reports it."""

    name: str | None = None
    """Name of the kernel (conda environment)."""
    channels: list[str] | None = None
    """Conda channels to install from."""
    conda_dependencies: list[str] | None = None
    """Conda packages."""
    pip_dependencies: list[str] | None = None
    """Pip packages."""


class EnvironmentSpecPayload(PayloadModel):
    """Where replicas run, as a server reports it."""

    name: str | None = None
    """Name of a predefined Submarine environment."""
    docker_image: str | None = None
    """Docker image of a predefined environment (never read by Submarine 0.8.0)."""
    kernel_spec: KernelSpecPayload | None = None
    """Conda/pip kernel of a predefined environment."""
    description: str | None = None
    """Free text about the environment."""
    image: str | None = None
    """Container image of every replica."""


class GitCodeSpecPayload(PayloadModel):
    """A git repository synced into the replicas, as a server reports it."""

    url: str | None = None
    """Repository URL."""
    branch: str | None = None
    """Branch to check out; null or blank means 'main'."""
    username: str | None = None
    """User name for a private repository."""
    password: str | None = None
    """Password or token for a private repository."""
    trust_certs: bool | None = None
    """Trust the server's TLS certificate without verification."""


class CodeSpecPayload(PayloadModel):
    """How code reaches the replicas, as a server reports it."""

    sync_mode: str | None = None
    """How code is synced; missing or unknown means 'git'."""
    git: GitCodeSpecPayload | None = None
    """The repository."""


class ExperimentTaskSpecPayload(PayloadModel):
    """One role of an experiment, as a server reports it (with its ``resourceMap``)."""

    replicas: int | None = None
    """Number of replicas of this role."""
    resources: str | None = None
    """Requests of each replica: 'cpu=1,memory=1024M,nvidia.com/gpu=1'."""
    name: str | None = None
    """Display name of the role."""
    image: str | None = None
    """Container image of this role; overrides environment.image."""
    cmd: str | None = None
    """Command of this role; overrides meta.cmd."""
    env_vars: dict[str, str] | None = None
    """Environment of this role; replaces meta.envVars for it."""
    resource_map: dict[str, str] | None = None
    """resources as a mapping, derived by the server."""

    @property
    def parsed_resources(self) -> Resources:
        """The typed resources of one replica (empty when none can be read)."""
        return task_resources(self.resources, self.resource_map)


class ExperimentMetaPayload(PayloadModel):
    """What an experiment is, as a server reports it."""

    experiment_id: str | None = None
    """The experiment's id."""
    name: str | None = None
    """Experiment name, lower-cased by the server."""
    namespace: str | None = None
    """Kubernetes namespace."""
    framework: str | None = None
    """Training framework, as the user spelled it."""
    cmd: str | None = None
    """Entry command of every role that has no cmd of its own."""
    env_vars: dict[str, str] | None = None
    """Default environment of every role that has no envVars of its own."""
    tags: list[str] | None = None
    """Free-form tags."""

    @property
    def framework_type(self) -> Framework | None:
        """The framework as a :class:`Framework`, or None when it is not one of them."""
        return find_framework(self.framework)


class ExperimentSpecPayload(PayloadModel):
    """An experiment's spec as a server reports it: nothing judged, nothing lost.

    Submit it again through the input type, which validates it and leaves out what only
    servers write (``resourceMap``): ``ExperimentSpec.model_validate(experiment.spec)``.
    """

    meta: ExperimentMetaPayload = Field(default_factory=ExperimentMetaPayload)
    """Name, framework, command and environment variables."""
    environment: EnvironmentSpecPayload = Field(default_factory=EnvironmentSpecPayload)
    """Where replicas run."""
    spec: dict[str, ExperimentTaskSpecPayload] | None = None
    """The roles and their replicas (null in some answers)."""
    code: CodeSpecPayload | None = None
    """Code synced into every replica before it starts."""
    experiment_handler_spec: dict[str, str] | None = None
    """Server-specific handler settings."""

    @property
    def framework(self) -> Framework | None:
        """The experiment's framework, typed; None when the server sent another."""
        return self.meta.framework_type

    @property
    def roles(self) -> dict[str, ExperimentTaskSpecPayload]:
        """The roles (``spec.spec``), empty when the server sent none."""
        return self.spec or {}

    @property
    def total_replicas(self) -> int:
        """How many replicas the experiment runs, over all roles (a role without a
        number counts one, as on the server)."""
        return sum(task.replicas or 1 for task in self.roles.values())

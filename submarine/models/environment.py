"""Environments: a named, stored description of where replicas run (an image, and a kernel
of conda and pip packages), that an experiment names in ``environment.name``.

:class:`EnvironmentDefinition` is what ``POST`` and ``PATCH /api/v1/environment`` take: an
:class:`~submarine.models.EnvironmentSpec` whose ``name`` is required and can name the
environment in a URL and in Kubernetes, and whose kernel's dependencies can be handed to
pip and conda as packages. :class:`Environment` is what a server answers: its id and its
spec, nothing refused, nothing lost.

>>> EnvironmentDefinition.model_validate({
...     "name": "my-env", "kernelSpec": {"pipDependencies": ["requests==2.31.0"]}
... }).to_dict()
{'name': 'my-env', 'kernelSpec': {'pipDependencies': ['requests==2.31.0']}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from submarine.models._base import PayloadModel
from submarine.models.payloads import EnvironmentSpecPayload
from submarine.models.spec import EnvironmentSpec, KernelSpec

__all__ = [
    "ENVIRONMENT_NAME_MAX",
    "Dependency",
    "Environment",
    "EnvironmentDefinition",
    "EnvironmentName",
    "KernelDefinition",
]

ENVIRONMENT_NAME_MAX: Final = 63
"""The longest environment name: Submarine 0.8.0 names the replicas' init container after
the environment, and Kubernetes takes at most 63 characters there."""
_NAME_RE: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _environment_name(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if len(value) > ENVIRONMENT_NAME_MAX:
        raise PydanticCustomError(
            "environment_name",
            f"name {value[:20]!r}... is {len(value)} characters long: at most "
            f"{ENVIRONMENT_NAME_MAX} are allowed (Submarine names the replicas' init container "
            "after it, a Kubernetes name)",
        )
    if not _NAME_RE.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
        hint = f", like {suggestion!r}" if suggestion and suggestion != value else ""
        raise PydanticCustomError(
            "environment_name",
            f"name {value!r} is not valid: use lower-case letters, digits and '-', starting "
            "and ending with a letter or digit"
            + hint
            + " (Submarine names the replicas' init container after it, a Kubernetes name)",
        )
    return value


EnvironmentName = Annotated[
    str,
    BeforeValidator(_environment_name),
    WithJsonSchema(
        {"type": "string", "maxLength": ENVIRONMENT_NAME_MAX, "pattern": f"^{_NAME_RE.pattern}$"}
    ),
]
"""An environment's name: at most 63 lower-case letters, digits and '-', alphanumeric at
both ends (a Kubernetes name, and a segment of ``/api/v1/environment/<name>``)."""


def _dependency(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        raise PydanticCustomError(
            "dependency", "a dependency is empty: give a package, like 'requests==2.31.0'"
        )
    if text.startswith("-"):
        raise PydanticCustomError(
            "dependency",
            f"dependency {value!r} is an option, not a package: give packages only, like "
            "'requests==2.31.0' (set pip's or conda's options in their own configuration)",
        )
    for char in text:
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            raise PydanticCustomError(
                "dependency",
                f"dependency {value[:40]!r} holds the control character {char!r}: a package "
                "is one line of printable text, like 'requests==2.31.0'",
            )
    return text


Dependency = Annotated[
    str,
    BeforeValidator(_dependency),
    WithJsonSchema({"type": "string", "pattern": r"^\s*[^-\s][^\x00-\x1f\x7f-\x9f]*$"}),
]
"""A package to install, as pip or conda reads it (``requests==2.31.0``, a path, a URL):
one line of printable text that is not an option."""


class KernelDefinition(KernelSpec):
    """The conda and pip packages of an environment, each one a package (never an option)."""

    conda_dependencies: list[Dependency] | None = None
    """Conda packages, like 'numpy=1.24'."""
    pip_dependencies: list[Dependency] | None = None
    """Pip packages, like 'scikit-learn==1.3', a path to a wheel, or a URL."""


class EnvironmentDefinition(EnvironmentSpec):
    """An environment to store: an :class:`~submarine.models.EnvironmentSpec` with a name.

    What ``POST /api/v1/environment`` and ``PATCH /api/v1/environment/<name>`` take. On the
    local server, an experiment whose ``environment.name`` names it runs its replicas with
    the kernel's ``pipDependencies`` installed.
    """

    _missing_hints: ClassVar[Mapping[str, str]] = {
        "name": "the environment's name, like 'my-env' (experiments name it in environment.name)"
    }

    name: EnvironmentName
    """The environment's name: lower-case letters, digits and '-'."""
    kernel_spec: KernelDefinition | None = None
    """Conda channels and packages, and pip packages."""


class Environment(PayloadModel):
    """An environment as a server reports it: its id and its spec.

    >>> env = Environment.model_validate({"environmentId": "environment_1586156073228_0001",
    ...                                   "environmentSpec": {"name": "my-env"}})
    >>> env["environmentSpec"]["name"], env.name
    ('my-env', 'my-env')
    """

    environment_id: str | None = None
    """Server-assigned id, like environment_1586156073228_0001."""
    environment_spec: EnvironmentSpecPayload | None = None
    """The environment as stored."""

    @property
    def name(self) -> str | None:
        """The environment's name (``environmentSpec.name``)."""
        return self.environment_spec.name if self.environment_spec is not None else None

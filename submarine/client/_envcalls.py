"""Submarine's environment API (``/api/v1/environment``) as calls, for both clients.

Environments are reached by name: create, list, get, patch (0.8.0's ``update``) and delete.
A spec is judged as an :class:`~submarine.models.EnvironmentDefinition` before it is sent
(``SpecValidationError``, every problem at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final, TypeAlias
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from submarine.client._decode import decode
from submarine.client._steps import Call
from submarine.client.errors import SpecValidationError
from submarine.models import (
    Environment,
    EnvironmentDefinition,
    EnvironmentSpec,
    EnvironmentSpecPayload,
    problems_of,
)

__all__ = ["ENVIRONMENT_PATH", "EnvironmentCalls", "EnvironmentInput", "environment_body"]

ENVIRONMENT_PATH: Final = "/api/v1/environment"
"""The environment service, below the host."""

EnvironmentInput: TypeAlias = EnvironmentSpec | EnvironmentSpecPayload | Mapping[str, Any]
"""What create and patch take: a spec (an :class:`~submarine.models.EnvironmentSpec` with
a name), one read back from a server, or a dict."""


def environment_body(spec: EnvironmentInput) -> bytes:
    """The JSON body of an environment spec, judged as an
    :class:`~submarine.models.EnvironmentDefinition` first (``SpecValidationError``)."""
    if not isinstance(spec, (EnvironmentSpec, EnvironmentSpecPayload, Mapping)):
        raise TypeError(
            "environment_spec must be an EnvironmentSpec, a spec read from a server or a "
            f"dict, got {type(spec).__name__}"
        )
    try:
        definition = EnvironmentDefinition.model_validate(spec)
    except ValidationError as exc:
        raise SpecValidationError(problems_of(exc), subject="environment spec") from exc
    return definition.to_json().encode("utf-8")


def _name_path(name: str) -> str:
    """The name, quoted for a URL path; an empty or non-string name is refused."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"environment name must be a non-empty string like 'my-env', got {name!r}")
    return quote(name, safe="")


class EnvironmentCalls:
    """The calls of the environment API of the server at ``host`` (a base URL)."""

    def __init__(self, host: str) -> None:
        self.base = host + ENVIRONMENT_PATH

    def create(self, spec: EnvironmentInput) -> Call[Environment]:
        """Store a new environment (never retried once it may have arrived)."""
        body = environment_body(spec)
        return Call("POST", self.base, partial(decode, Environment), content=body, idempotent=False)

    def update(self, name: str, spec: EnvironmentInput) -> Call[Environment]:
        """Replace the environment of this name."""
        url = f"{self.base}/{_name_path(name)}"
        return Call("PATCH", url, partial(decode, Environment), content=environment_body(spec))

    def get(self, name: str) -> Call[Environment]:
        """The environment of this name."""
        return Call("GET", f"{self.base}/{_name_path(name)}", partial(decode, Environment))

    def list(self) -> Call[list[Environment]]:
        """Every environment."""
        read: Callable[[httpx.Response], list[Environment]] = partial(decode, list[Environment])
        return Call("GET", self.base, read)

    def delete(self, name: str) -> Call[Environment]:
        """Delete the environment of this name; the answer is what it was."""
        return Call("DELETE", f"{self.base}/{_name_path(name)}", partial(decode, Environment))

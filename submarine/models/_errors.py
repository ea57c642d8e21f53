"""Validation problems as readable lines: the wire path, what was wrong, the value."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where (``spec.Worker.resources``) and why."""

    loc: tuple[str | int, ...]
    message: str
    value: Any = None

    @property
    def path(self) -> str:
        """The location in wire names, dotted: ``spec.Worker.resources``."""
        return ".".join(str(part) for part in self.loc) or "(spec)"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _show(value: Any) -> str:
    try:
        return repr(value)
    except RecursionError:  # nested deeper than repr can go: show the outer levels
        return reprlib.repr(value)


def _describe(err: Any) -> str:
    message = str(err["msg"])
    kind = str(err["type"])
    if kind == "missing":
        return "is required"
    value = err.get("input")
    if kind.endswith(("_type", "_parsing")) or kind in {"literal_error", "enum"}:
        return f"{message[0].lower()}{message[1:]}, got {_show(value)}"
    return message


def problems_of(exc: ValidationError) -> list[Problem]:
    """Every problem of a validation error, in a stable order, with wire-name paths."""
    return [
        Problem(tuple(err["loc"]), _describe(err), err.get("input"))
        for err in exc.errors(include_url=False)
    ]

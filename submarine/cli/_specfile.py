"""Load spec and template files and report their problems as ``FILE:LINE: path: message``
lines.

A document with ``experimentSpec`` at its top is an experiment template; any other is an
experiment spec. Each is judged by its own model, and a file of the other kind than the
command expects gets one line saying which command takes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from submarine.models import (
    ExperimentSpec,
    ExperimentTemplateSpec,
    SpecFileError,
    load_document,
    problems_of,
)

__all__ = ["FileProblem", "check_any_file", "check_file", "check_template_file", "is_template"]

_YAML_SUFFIXES = (".yaml", ".yml")
_TEMPLATE_KEYS = ("experimentSpec", "experiment_spec")
_PARAMETER_ALIASES = ("experimentTemplateParamSpec", "experiment_template_param_spec")

M = TypeVar("M", ExperimentSpec, ExperimentTemplateSpec)


@dataclass(frozen=True)
class FileProblem:
    """One problem of a spec file: the file, the line when known, and what is wrong."""

    file: str
    line: int | None
    message: str
    """``spec.Worker.resources: ...`` for a validation problem, or why the file is unreadable."""
    column: int | None = None
    """The column, when the file could not be parsed and the parser said where."""

    def __str__(self) -> str:
        where = "".join([self.file] + [f":{n}" for n in (self.line, self.column) if n is not None])
        return f"{where}: {self.message}"


def is_template(document: Any) -> bool:
    """Whether a document is an experiment template: it has ``experimentSpec`` at its top."""
    return isinstance(document, Mapping) and any(key in document for key in _TEMPLATE_KEYS)


def _load(file: Path, name: str) -> tuple[Any, list[FileProblem]]:
    """The document of a file, or why it cannot be read (the parser's line and column are
    part of it)."""
    try:
        return load_document(file), []
    except SpecFileError as exc:
        text = str(exc)
        prefix = f"{file}:"
        # load_document names the file itself; keep the name as the user typed it.
        message = text[len(prefix) :].lstrip() if text.startswith(prefix) else text
        where = re.match(r"(\d+):(\d+): ", message)
        if where is None:
            return None, [FileProblem(name, None, message)]
        line, column = int(where[1]), int(where[2])
        return None, [FileProblem(name, line, message[where.end() :], column)]


def _lines(
    file: Path, name: str, locs: Sequence[tuple[str | int, ...]], messages: list[str]
) -> list[FileProblem]:
    """Each message at the line of its path in the file, sorted by line."""
    from submarine.cli._locate import line_of, tree_of  # a YAML node tree: only for problems

    tree = tree_of(
        file.read_text(encoding="utf-8"), yaml_syntax=file.suffix.lower() in _YAML_SUFFIXES
    )
    located = [
        FileProblem(name, line_of(tree, loc), message)
        for loc, message in zip(locs, messages, strict=True)
    ]
    return sorted(located, key=lambda p: p.line or 0)


def _where(document: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The path of a template problem in the file: its parameters may stand under 0.8.0's
    second name."""
    if (
        loc[:1] == ("parameters",)
        and isinstance(document, Mapping)
        and "parameters" not in document
    ):
        for alias in _PARAMETER_ALIASES:
            if alias in document:
                return (alias, *loc[1:])
    return loc


def _judge(
    file: Path, name: str, document: Any, model: type[M]
) -> tuple[M | None, list[FileProblem]]:
    try:
        return model.model_validate(document), []
    except ValidationError as exc:
        problems = problems_of(exc)
    locs = [_where(document, p.loc) if model is ExperimentTemplateSpec else p.loc for p in problems]
    return None, _lines(file, name, locs, [str(p) for p in problems])


def check_file(path: str | Path) -> tuple[ExperimentSpec | None, list[FileProblem]]:
    """Load and validate one spec file: the spec, or every problem with its line.

    A file that cannot be read or parsed gives one problem whose message says why (the
    parser's line and column are part of it); a template gives one that says so.
    """
    file, name = Path(path), str(path)
    document, problems = _load(file, name)
    if problems:
        return None, problems
    if is_template(document):
        key = next(key for key in _TEMPLATE_KEYS if key in document)
        message = (
            f"this is an experiment template (it has {key!r}), not an experiment spec: "
            f"`submarine template create -f {name}` stores it, and `submarine template "
            "submit NAME` creates an experiment from it"
        )
        return None, _lines(file, name, [(key,)], [message])
    return _judge(file, name, document, ExperimentSpec)


def check_template_file(
    path: str | Path,
) -> tuple[ExperimentTemplateSpec | None, list[FileProblem]]:
    """Load and validate one template file: the template, or every problem with its line.

    An experiment spec (no ``experimentSpec`` in it) gives one problem that says so.
    """
    file, name = Path(path), str(path)
    document, problems = _load(file, name)
    if problems:
        return None, problems
    if isinstance(document, Mapping) and not is_template(document) and "meta" in document:
        message = (
            "this is an experiment spec, not a template (it has no 'experimentSpec'): "
            f"`submarine experiment create -f {name}` creates it; a template holds it under "
            "'experimentSpec', with a name and parameters"
        )
        return None, [FileProblem(name, None, message)]
    return _judge(file, name, document, ExperimentTemplateSpec)


def check_any_file(
    path: str | Path,
) -> tuple[ExperimentSpec | ExperimentTemplateSpec | None, list[FileProblem]]:
    """Load and validate a spec or a template file, whichever it is."""
    file, name = Path(path), str(path)
    document, problems = _load(file, name)
    if problems:
        return None, problems
    if is_template(document):
        return _judge(file, name, document, ExperimentTemplateSpec)
    return _judge(file, name, document, ExperimentSpec)

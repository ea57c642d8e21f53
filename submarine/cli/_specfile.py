"""Load spec files and report their problems as ``FILE:LINE: path: message`` lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from submarine.models import ExperimentSpec, SpecFileError, load_document, problems_of

__all__ = ["FileProblem", "check_file"]

_YAML_SUFFIXES = (".yaml", ".yml")


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


def check_file(path: str | Path) -> tuple[ExperimentSpec | None, list[FileProblem]]:
    """Load and validate one spec file: the spec, or every problem with its line.

    A file that cannot be read or parsed gives one problem whose message says why (the
    parser's line and column are part of it).
    """
    file = Path(path)
    name = str(path)
    try:
        document = load_document(file)
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
    try:
        return ExperimentSpec.model_validate(document), []
    except ValidationError as exc:
        problems = problems_of(exc)
    from submarine.cli._locate import line_of, tree_of  # a YAML node tree: only for problems

    tree = tree_of(
        file.read_text(encoding="utf-8"), yaml_syntax=file.suffix.lower() in _YAML_SUFFIXES
    )
    located = [FileProblem(name, line_of(tree, p.loc), str(p)) for p in problems]
    return None, sorted(located, key=lambda p: p.line or 0)

"""Reading spec documents from JSON and YAML files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)
_TOO_DEEP = (
    "{source}: invalid {syntax}: lists or mappings are nested too deeply to read "
    "(a spec needs only a few levels)"
)


class SpecFileError(ValueError):
    """A spec file that cannot be read or parsed; the message names the file and why."""


def load_document(path: str | os.PathLike[str]) -> Any:
    """Parse a ``.json``, ``.yaml`` or ``.yml`` file into plain Python data."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in YAML_SUFFIXES + JSON_SUFFIXES:
        raise SpecFileError(
            f"{file}: unknown file type {suffix or '(none)'!r}: use .json, .yaml or .yml"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecFileError(f"{file}: cannot read it: {exc}") from exc
    return parse_document(text, yaml_syntax=suffix in YAML_SUFFIXES, source=str(file))


def parse_document(text: str, *, yaml_syntax: bool, source: str = "<input>") -> Any:
    """Parse JSON or YAML text; errors name the source, line and column."""
    if not yaml_syntax:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecFileError(
                f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
            ) from exc
        except RecursionError:
            raise SpecFileError(_TOO_DEEP.format(source=source, syntax="JSON")) from None
    try:
        import yaml
    except ImportError:
        raise SpecFileError(
            f"{source}: reading YAML needs PyYAML: pip install 'submarine-sdk[cli]'"
        ) from None
    try:
        # libyaml when present: the pure-Python parser takes minutes on a deeply nested
        # document of a few hundred kilobytes; libyaml refuses one past 1000 levels at once.
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecFileError(f"{where}: invalid YAML: {problem}") from exc
    except RecursionError:
        raise SpecFileError(_TOO_DEEP.format(source=source, syntax="YAML")) from None

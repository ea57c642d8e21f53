"""How the CLI shows data: tables for people, JSON or YAML for programs.

``-o table`` is the default when standard output is a terminal and ``-o json`` when it
is not (a pipe or a file), so ``submarine experiment list | jq`` works without a flag.
The tables are drawn by Rich (:mod:`submarine.cli._tables`), loaded when one is drawn.
"""

from __future__ import annotations

import enum
import io
import json
import sys
from collections.abc import Sequence
from typing import IO, Any, cast

import pydantic_core

from submarine.client._terminal import printable
from submarine.models import Experiment, ExperimentLog

__all__ = [
    "OutputFormat",
    "dump",
    "emit",
    "log_lines",
    "null_stream",
    "resolve_format",
    "short_pod_name",
    "to_json",
]


class OutputFormat(str, enum.Enum):
    """The ``-o`` choices of commands whose output is data."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


def resolve_format(chosen: OutputFormat | None) -> OutputFormat:
    """The format asked for, else table on a terminal and JSON otherwise."""
    if chosen is not None:
        return chosen
    return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSON


def dump(data: Any, fmt: OutputFormat) -> str:
    """Plain data as a JSON or YAML document (ending with a newline)."""
    if fmt is OutputFormat.YAML:
        import yaml  # the YAML emitter: only for -o yaml

        return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return to_json(data)


def to_json(data: Any) -> str:
    """Plain data as JSON indented by 2, ending with a newline, non-ASCII kept as is.

    The same document as ``json.dumps(data, indent=2, ensure_ascii=False)``, written by
    pydantic-core's encoder: ``indent`` keeps ``json`` from using its C encoder, which made
    printing a thousand experiments take longer than fetching them. What pydantic-core
    refuses or writes differently (a lone surrogate, NaN) is left to ``json``.
    """
    try:
        text = pydantic_core.to_json(data, indent=2, inf_nan_mode="strings").decode("utf-8")
    except (pydantic_core.PydanticSerializationError, UnicodeDecodeError, ValueError):
        text = ""
    if not text or '"NaN"' in text or 'Infinity"' in text:
        text = json.dumps(data, indent=2, ensure_ascii=False)
    return text + "\n"


def emit(
    items: Experiment | ExperimentLog | Sequence[Experiment], fmt: OutputFormat | None
) -> None:
    """Print an experiment, a list of them or a log in the chosen (or default) format."""
    fmt = resolve_format(fmt)
    if fmt is OutputFormat.TABLE:
        from submarine.cli._tables import experiment_table, experiments_table, print_table

        if isinstance(items, Experiment):
            print_table(experiment_table(items))
        elif isinstance(items, Sequence):
            print_table(experiments_table(items))
        else:
            sys.stdout.writelines(
                f"[{printable(pod)}] {printable(line)}\n" for pod, line in log_lines(items)
            )
            sys.stdout.flush()
        return
    if isinstance(items, Sequence):
        data: Any = [item.to_dict() for item in items]
    else:
        data = items.to_dict()
    sys.stdout.write(dump(data, fmt))
    sys.stdout.flush()


class _NullStream(io.TextIOBase):
    """Swallows what the client would print of a log."""

    def write(self, text: str) -> int:
        return len(text)


def null_stream() -> IO[str]:
    """A text stream that discards what is written to it."""
    return cast("IO[str]", _NullStream())


def short_pod_name(experiment_id: str, pod_name: str) -> str:
    """``ps-0`` for ``experiment-1647192232698-0001-ps-0``; other names are kept."""
    prefix = f"{experiment_id}-"
    return pod_name[len(prefix) :] if pod_name.startswith(prefix) else pod_name


def log_lines(log: ExperimentLog) -> list[tuple[str, str]]:
    """Every line of a log as (short pod name, line), pod by pod."""
    return [
        (short_pod_name(log.experiment_id, pod.pod_name), line)
        for pod in log.pods
        for line in pod.lines
    ]

"""How the CLI shows data: tables for people, JSON or YAML for programs.

``-o table`` is the default when standard output is a terminal and ``-o json`` when it
is not (a pipe or a file), so ``submarine experiment list | jq`` works without a flag.
The tables are drawn by Rich (:mod:`submarine.cli._tables`), loaded when one is drawn.

Nothing a server sent reaches the terminal as a control sequence: text for people is
written by :func:`show` (or a :class:`~submarine.cli._tables.SafeConsole`), which removes
them; JSON and YAML keep every character, with each control character escaped.
"""

from __future__ import annotations

import enum
import functools
import io
import json
import re
import sys
from collections.abc import Sequence
from typing import IO, Any, Final, cast

import pydantic_core

from submarine.client._terminal import printable_lines
from submarine.models import Experiment, ExperimentLog

__all__ = [
    "OutputFormat",
    "dump",
    "emit",
    "log_lines",
    "null_stream",
    "resolve_format",
    "short_pod_name",
    "show",
    "to_json",
]

_RAW_CONTROL: Final = re.compile("[\x7f-\x9f]")
"""Control characters that JSON encoders and YAML's single quotes leave raw: DEL and the
8-bit controls (``\\x9b`` is CSI on some terminals)."""


def show(text: str, stream: IO[str] | None = None) -> None:
    """Write text for people (standard output by default), without terminal control
    sequences: each line as :func:`~submarine.client._terminal.printable` shows it."""
    out = sys.stdout if stream is None else stream
    out.write(printable_lines(text))
    out.flush()


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
    """Plain data as a JSON or YAML document (ending with a newline); no control
    character in it is raw."""
    if fmt is OutputFormat.YAML:
        return str(_yaml_dump()(data, sort_keys=False, allow_unicode=True))
    return to_json(data)


@functools.cache
def _yaml_dump() -> Any:
    """``yaml.dump`` with a safe dumper that writes a string holding DEL or an 8-bit
    control in double quotes, where YAML escapes them (the YAML emitter: only for -o
    yaml)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = '"' if _RAW_CONTROL.search(value) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    return functools.partial(yaml.dump, Dumper=Dumper)


def to_json(data: Any) -> str:
    """Plain data as JSON indented by 2, ending with a newline, non-ASCII kept as is but
    for DEL and the 8-bit controls, escaped as ``\\u00XX`` like the other controls.

    Otherwise the same document as ``json.dumps(data, indent=2, ensure_ascii=False)``, written by
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
    # Outside strings JSON is ASCII without controls: these are in strings, escaped alike.
    return _RAW_CONTROL.sub(_escaped, text) + "\n"


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def readable(data: Any) -> Any:
    """``data`` without what only repeats or says nothing, for YAML read by people: nulls
    (in mappings) and a role's ``resourceMap``, which repeats its ``resources``."""
    if isinstance(data, dict):
        return {
            key: readable(value)
            for key, value in data.items()
            if value is not None and not (key == "resourceMap" and "resources" in data)
        }
    if isinstance(data, list):
        return [readable(item) for item in data]
    return data


def emit(
    items: Experiment | ExperimentLog | Sequence[Experiment],
    fmt: OutputFormat | None,
    *,
    full: bool = False,
) -> None:
    """Print an experiment, a list of them or a log in the chosen (or default) format.

    YAML leaves out nulls and the roles' ``resourceMap`` unless ``full``; JSON is always
    what the server sent."""
    fmt = resolve_format(fmt)
    if fmt is OutputFormat.TABLE:
        from submarine.cli._tables import experiment_table, experiments_table, print_table

        if isinstance(items, Experiment):
            print_table(experiment_table(items))
        elif isinstance(items, Sequence):
            print_table(experiments_table(items))
        else:
            show("".join(f"[{pod}] {line}\n" for pod, line in log_lines(items)))
        return
    if isinstance(items, Sequence):
        data: Any = [item.to_dict() for item in items]
    else:
        data = items.to_dict()
    if fmt is OutputFormat.YAML and not full:
        data = readable(data)
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

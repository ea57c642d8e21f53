"""How the CLI shows data: Rich tables for people, JSON or YAML for programs.

``-o table`` is the default when standard output is a terminal and ``-o json`` when it
is not (a pipe or a file), so ``submarine experiment list | jq`` works without a flag.
"""

from __future__ import annotations

import enum
import io
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any, cast

import pydantic_core
from rich.console import Console
from rich.table import Table
from rich.text import Text

from submarine.client._terminal import printable
from submarine.models import Experiment, ExperimentLog

__all__ = [
    "OutputFormat",
    "data_console",
    "emit",
    "error_console",
    "experiment_table",
    "experiments_table",
    "log_lines",
    "null_stream",
    "print_table",
    "resolve_format",
    "short_pod_name",
    "status_style",
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


def data_console() -> Console:
    """A console on standard output; never wraps lines when it is not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=1000)
    return console


def error_console() -> Console:
    """A console on standard error for progress and error lines."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


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


def print_table(table: Table) -> None:
    """Print a table: as Rich draws it on a terminal, without trailing blanks elsewhere."""
    console = data_console()
    if console.is_terminal:
        console.print(table)
        return
    with console.capture() as capture:
        console.print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in capture.get().splitlines()))
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


_STATUS_STYLES = {
    "accepted": "yellow",
    "created": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "bold red",
    "deleted": "dim",
}


def status_style(status: str) -> str:
    """The Rich style of a status name."""
    return _STATUS_STYLES.get(status.lower(), "")


def _time(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return value


def _roles(experiment: Experiment) -> str:
    spec = experiment.spec
    if spec is None:
        return "-"
    return ", ".join(f"{role} {task.replicas}" for role, task in spec.roles.items()) or "-"


def _framework(experiment: Experiment) -> str:
    return (experiment.spec.meta.framework if experiment.spec is not None else None) or "-"


def _name(experiment: Experiment) -> str:
    if experiment.spec is not None and experiment.spec.meta.name:
        return experiment.spec.meta.name
    return experiment.name or "-"


def _cells(*values: Any) -> list[Any]:
    """Table cells: strings are shown as they are, never read as Rich markup."""
    return [Text(value) if isinstance(value, str) else value for value in values]


def _status(experiment: Experiment) -> Any:
    name = experiment.status_name or "-"
    return Text(name, style=status_style(name))


def experiments_table(experiments: Sequence[Experiment]) -> Table:
    """One row an experiment: id, name, framework, roles, status and times."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "NAME", "FRAMEWORK", "ROLES", "STATUS", "ACCEPTED", "FINISHED"):
        table.add_column(column, no_wrap=column in ("ID", "STATUS"))
    for exp in experiments:
        table.add_row(
            *_cells(
                exp.experiment_id,
                _name(exp),
                _framework(exp),
                _roles(exp),
                _status(exp),
                _time(exp.accepted_time),
                _time(exp.finished_time),
            )
        )
    return table


def experiment_table(experiment: Experiment) -> Table:
    """One experiment in detail: its fields, then a row a role."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    spec = experiment.spec
    rows: list[tuple[str, Any]] = [
        ("ID", experiment.experiment_id),
        ("Name", _name(experiment)),
        ("Framework", _framework(experiment)),
        ("Status", _status(experiment)),
        ("Accepted", _time(experiment.accepted_time)),
        ("Created", _time(experiment.created_time)),
        ("Running", _time(experiment.running_time)),
        ("Finished", _time(experiment.finished_time)),
    ]
    if spec is not None:
        rows.append(("Image", spec.environment.image or spec.environment.name or "-"))
        rows.append(("Command", spec.meta.cmd or "-"))
    for label, value in rows:
        grid.add_row(*_cells(label, value))
    if spec is not None and spec.spec:
        roles = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("ROLE", "REPLICAS", "RESOURCES", "COMMAND"):
            roles.add_column(column)
        for role, task in spec.spec.items():
            roles.add_row(*_cells(role, str(task.replicas), task.resources or "-", task.cmd or "-"))
        grid.add_row("", "")
        grid.add_row("Roles", roles)
    return grid

"""The CLI's Rich side: tables of experiments and templates, status colours and the
consoles.

Every console the CLI draws with is a :class:`SafeConsole`, which removes terminal
control sequences from the text it is given (names, commands, statuses, log lines,
messages: whatever a server sent) before writing it, and keeps only its own styles.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from submarine.client._terminal import printable_lines
from submarine.models import Experiment, ExperimentTemplate

__all__ = [
    "SafeConsole",
    "data_console",
    "error_console",
    "experiment_table",
    "experiments_table",
    "print_table",
    "status_style",
    "template_table",
    "templates_table",
]


class SafeConsole(Console):
    """A Rich console that writes no terminal control sequence but its own.

    Each piece of text it renders goes through
    :func:`~submarine.client._terminal.printable_lines`: escape sequences and carriage
    returns are removed and other control characters shown as ``\\xNN``, so a name or a
    message from a server cannot retitle, clear or move about the terminal. Styles and
    cursor moves are Rich's own control segments, and are kept.
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        """Render as Rich does, every text segment made printable."""
        for segment in super().render(renderable, options):
            text = segment.text
            if segment.control or text.isprintable() or text == "\n":
                yield segment
            else:
                yield Segment(printable_lines(text), segment.style, segment.control)


def data_console() -> Console:
    """A console on standard output; never wraps lines when it is not a terminal."""
    console = SafeConsole(highlight=False)
    if not console.is_terminal:
        console = SafeConsole(highlight=False, width=1000)
    return console


def error_console() -> Console:
    """A console on standard error for progress and error lines."""
    return SafeConsole(stderr=True, highlight=False, soft_wrap=True)


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


def _as_time(value: datetime | str | None) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def duration(experiment: Experiment, now: datetime | None = None) -> str:
    """How long the experiment has run: from Running to its finish, or to now while it
    runs; ``-`` before it ran (a queued experiment has no duration)."""
    started = _as_time(experiment.running_time)
    if started is None:
        return "-"
    ended = _as_time(experiment.finished_time)
    if ended is None:
        ended = now or datetime.now(started.tzinfo)
    seconds = max(0, int((ended - started).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _cells(*values: Any) -> list[Any]:
    """Table cells: strings are shown as they are, never read as Rich markup."""
    return [Text(value) if isinstance(value, str) else value for value in values]


def _status(experiment: Experiment) -> Any:
    name = experiment.status_name or "-"
    return Text(name, style=status_style(name))


def experiments_table(experiments: Sequence[Experiment]) -> Table:
    """One row an experiment: id, name, framework, roles, status and times."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    columns = ("ID", "NAME", "FRAMEWORK", "ROLES", "STATUS", "ACCEPTED", "FINISHED", "DURATION")
    for column in columns:
        table.add_column(column, no_wrap=column in ("ID", "STATUS", "DURATION"))
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
                duration(exp),
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
        *([("Reason", experiment.reason)] if experiment.reason else []),
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


# -- templates --------------------------------------------------------------------------------


def _declared(template: ExperimentTemplate) -> list[str]:
    """The names of a template's own parameters (not those made for each role)."""
    from submarine.models.templating import GENERATED_SUFFIXES

    names = [p.name or "" for p in template.experiment_template_spec.parameters or []]
    return [n for n in names if not (n.startswith("spec.") and n.endswith(GENERATED_SUFFIXES))]


def templates_table(templates: Sequence[ExperimentTemplate]) -> Table:
    """One row a template: name, author, its own parameters and description."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("NAME", "AUTHOR", "PARAMETERS", "DESCRIPTION"):
        table.add_column(column, no_wrap=column == "NAME")
    for template in templates:
        spec = template.experiment_template_spec
        table.add_row(
            *_cells(
                spec.name or "-",
                spec.author or "-",
                ", ".join(_declared(template)) or "-",
                spec.description or "-",
            )
        )
    return table


def template_table(template: ExperimentTemplate) -> Table:
    """One template in detail: its fields, what it runs, then a row a parameter."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    spec = template.experiment_template_spec
    run = spec.experiment_spec
    rows: list[tuple[str, Any]] = [
        ("Name", spec.name or "-"),
        ("Author", spec.author or "-"),
        ("Description", spec.description or "-"),
    ]
    if run is not None:
        rows.append(("Framework", run.meta.framework or "-"))
        rows.append(("Image", run.environment.image or run.environment.name or "-"))
        rows.append(("Command", run.meta.cmd or "-"))
        roles = ", ".join(f"{role} {task.replicas}" for role, task in run.roles.items())
        rows.append(("Roles", roles or "-"))
    for label, value in rows:
        grid.add_row(*_cells(label, value))
    parameters = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("NAME", "REQUIRED", "DEFAULT", "DESCRIPTION"):
        parameters.add_column(column)
    for param in spec.parameters or []:
        required = "yes" if (param.required or "").lower() == "true" else "no"
        default = "-" if param.value is None else param.value
        parameters.add_row(*_cells(param.name or "-", required, default, param.description or "-"))
    grid.add_row("", "")
    grid.add_row("Parameters", parameters)
    return grid

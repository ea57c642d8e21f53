"""Submarine 0.8.0's spellings of the commands, beside the project's own.

``submarine list experiment``, ``get experiment ID``, ``delete experiment ID [--wait]``,
the same for ``environment NAME``, and ``config init|list|get|set``. They print what 0.8.0
prints: a table titled ``List of Experiments`` (``List of Environments``), a panel of JSON
titled ``Experiment(id = ID )`` (``Environment(name = NAME )``), ``Experiment(id = ID )
deleted``; an error answer is ``[Api Error] <the server's message>``. Unlike 0.8.0, an
error goes to standard error with the CLI's exit codes (0.8.0 printed it on standard output
and exited 0), and a server that cannot be reached is one line, not a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Annotated, Any

import typer

from submarine.cli._errors import CliError, ExitCode
from submarine.cli._experiment import STATE, client_host
from submarine.cli.config.config import (
    CONFIG_KEYS,
    ConfigError,
    get_value,
    init_config,
    load_config,
    save_config,
    set_value,
)
from submarine.client import APIStatusError, EnvironmentClient, ExperimentClient

__all__ = ["config_app", "delete_app", "get_app", "list_app"]


def _group(name: str, help: str) -> typer.Typer:
    return typer.Typer(name=name, help=help, no_args_is_help=True, rich_markup_mode=None)


list_app = _group("list", "List experiments or environments (Submarine 0.8.0's spelling).")
get_app = _group("get", "Show an experiment or an environment (Submarine 0.8.0's spelling).")
delete_app = _group("delete", "Delete an experiment or an environment (0.8.0's spelling).")
config_app = _group(
    "config",
    "The CLI's settings: connection.hostname and connection.port, the server commands talk "
    "to when neither --host nor SUBMARINE_HOST names one.",
)


@contextlib.contextmanager
def _api_errors() -> Iterator[None]:
    """An error answer as 0.8.0's CLI words it: ``[Api Error] <message>``."""
    try:
        yield
    except APIStatusError as exc:
        raise CliError(f"[Api Error] {exc.message}") from None


@contextlib.contextmanager
def _experiments() -> Iterator[ExperimentClient]:
    try:
        client = ExperimentClient(client_host(), token=STATE.token)
    except ValueError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    STATE.host = client.host
    with client, _api_errors():
        yield client


@contextlib.contextmanager
def _environments() -> Iterator[EnvironmentClient]:
    try:
        client = EnvironmentClient(client_host(), token=STATE.token)
    except ValueError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    STATE.host = client.host
    with client, _api_errors():
        yield client


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from submarine.cli._tables import print_table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(_text(cell)) for cell in row))
    print_table(table)


def _panel(data: Any, title: str) -> None:
    from rich.json import JSON
    from rich.panel import Panel

    from submarine.cli._tables import data_console

    data_console().print(Panel(JSON(json.dumps(data)), title=title, expand=False))


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The experiment id.")]
NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The environment's name.")]


# -- experiments ---------------------------------------------------------------------------


@list_app.command("experiment")
def list_experiment() -> None:
    """List experiments: name, id, tags, times and status."""
    with _experiments() as client:
        experiments = client.list_experiments()
        rows = [
            (
                exp["spec"]["meta"]["name"] if exp.spec is not None else exp.name,
                exp["experimentId"],
                ",".join(exp.spec.meta.tags or []) if exp.spec is not None else "",
                exp["finishedTime"],
                exp["createdTime"],
                exp["runningTime"],
                exp["status"],
            )
            for exp in experiments
        ]
    columns = ("Name", "Id", "Tags", "Finished Time", "Created Time", "Running Time", "Status")
    _table("List of Experiments", columns, rows)


@get_app.command("experiment")
def get_experiment(experiment_id: IdArgument) -> None:
    """Show an experiment as JSON."""
    with _experiments() as client:
        experiment = client.get_experiment(experiment_id)
    _panel(experiment.to_dict(), f"Experiment(id = {experiment_id} )")


@delete_app.command("experiment")
def delete_experiment(
    experiment_id: IdArgument,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Say whether it was deleted.")
    ] = False,
) -> None:
    """Delete an experiment (its replicas are stopped)."""
    with _experiments() as client:
        deleted = client.delete_experiment(experiment_id)
    if not wait:
        return
    if deleted["status"] == "Deleted":
        _say(f"Experiment(id = {experiment_id} ) deleted")
        return
    _say("Failed")
    _panel(deleted.to_dict(), f"Experiment(id = {experiment_id} )")
    raise typer.Exit(int(ExitCode.FAILED))


# -- environments --------------------------------------------------------------------------


@list_app.command("environment")
def list_environment() -> None:
    """List environments: name, id and docker image."""
    with _environments() as client:
        rows = [
            (
                env["environmentSpec"]["name"] if env.environment_spec is not None else None,
                env["environmentId"],
                env["environmentSpec"]["dockerImage"] if env.environment_spec is not None else None,
            )
            for env in client.list_environments()
        ]
    _table("List of Environments", ("Name", "Id", "dockerImage"), rows)


@get_app.command("environment")
def get_environment(name: NameArgument) -> None:
    """Show an environment as JSON."""
    with _environments() as client:
        environment = client.get_environment(name)
    _panel(environment.to_dict(), f"Environment(name = {name} )")


@delete_app.command("environment")
def delete_environment(name: NameArgument) -> None:
    """Delete an environment."""
    with _environments() as client:
        client.delete_environment(name)
    _say(f"Environment(name = {name} ) deleted")


# -- settings ------------------------------------------------------------------------------


@contextlib.contextmanager
def _settings_errors() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


KeyArgument = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="One of " + ", ".join(CONFIG_KEYS) + ".",
        autocompletion=lambda: list(CONFIG_KEYS),
    ),
]


@config_app.command("init")
def config_init() -> None:
    """Write the default settings (the local server's address, localhost:8080)."""
    with _settings_errors():
        init_config()
    _say("Submarine CLI Config initialized")


@config_app.command("list")
def config_list() -> None:
    """Show the settings as JSON."""
    with _settings_errors():
        config = load_config()
    _panel(asdict(config), "SubmarineCliConfig")


@config_app.command("get")
def config_get(key: KeyArgument) -> None:
    """Print one setting as KEY=VALUE."""
    with _settings_errors():
        value = get_value(load_config(), key)
    _say(f"{key}={value}")


@config_app.command("set")
def config_set(
    key: KeyArgument,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
) -> None:
    """Change one setting (checked: a port is a whole number from 1 to 65535)."""
    with _settings_errors():
        save_config(set_value(load_config(), key, value))

"""The ``submarine environment`` commands: each one a call of the public environment client.

An environment is a named image and kernel (conda and pip packages) that experiments name
in ``environment.name``; on the local server, their replicas run with its pip packages
installed. Output is a table on a terminal and JSON otherwise (``-o table|json|yaml``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from submarine.cli._errors import CliError, ExitCode
from submarine.cli._experiment import STATE, OutputOption, client_host
from submarine.cli._output import OutputFormat, dump, resolve_format
from submarine.client import EnvironmentClient, NotFoundError
from submarine.models import Environment, SpecFileError, load_document

__all__ = ["environment_app"]

environment_app = typer.Typer(
    name="environment",
    help="Create, inspect, change and delete environments (an image and packages that "
    "experiments name in environment.name).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="The environment's name.", show_default=False)
]
FileOption = Annotated[
    Path,
    typer.Option(
        "-f",
        "--file",
        exists=True,
        dir_okay=False,
        readable=True,
        help="The environment spec: a .yaml, .yml or .json file, like "
        "{name: my-env, kernelSpec: {pipDependencies: [requests]}}.",
    ),
]


@contextlib.contextmanager
def _client(name: str | None = None) -> Iterator[EnvironmentClient]:
    """A client for the global options and the settings; "Environment not found." as a
    line that names the environment."""
    try:
        client = EnvironmentClient(client_host(), token=STATE.token)
    except ValueError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    STATE.host = client.host
    try:
        with client:
            yield client
    except NotFoundError:
        if name is None:
            raise
        raise CliError(
            f"no environment {name!r} on {STATE.host}: `submarine environment list` shows "
            "the names there are"
        ) from None


def _load(path: Path) -> Any:
    try:
        return load_document(path)
    except SpecFileError as exc:
        raise CliError(str(exc)) from None


def _emit(items: Environment | Sequence[Environment], output: OutputFormat | None) -> None:
    fmt = resolve_format(output)
    if fmt is not OutputFormat.TABLE:
        data: Any = (
            items.to_dict() if isinstance(items, Environment) else [i.to_dict() for i in items]
        )
        sys.stdout.write(dump(data, fmt))
        sys.stdout.flush()
        return
    from rich.table import Table
    from rich.text import Text

    from submarine.cli._tables import print_table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("NAME", "ID", "DOCKER IMAGE", "PIP", "CONDA"):
        table.add_column(column)
    for env in [items] if isinstance(items, Environment) else items:
        spec = env.environment_spec
        kernel = spec.kernel_spec if spec is not None else None
        cells = (
            env.name or "-",
            env.environment_id or "-",
            (spec.docker_image if spec is not None else None) or "-",
            ", ".join(kernel.pip_dependencies or []) if kernel is not None else "",
            ", ".join(kernel.conda_dependencies or []) if kernel is not None else "",
        )
        table.add_row(*(Text(cell or "-") for cell in cells))
    print_table(table)


@environment_app.command("create")
def create(file: FileOption, output: OutputOption = None) -> None:
    """Create an environment from a spec file."""
    spec = _load(file)
    with _client() as client:
        _emit(client.create_environment(spec), output)


@environment_app.command("list")
def list_(output: OutputOption = None) -> None:
    """List the environments on the server."""
    with _client() as client:
        _emit(client.list_environments(), output)


@environment_app.command("get")
def get(name: NameArgument, output: OutputOption = None) -> None:
    """Show one environment."""
    with _client(name) as client:
        _emit(client.get_environment(name), output)


@environment_app.command("patch")
def patch(name: NameArgument, file: FileOption, output: OutputOption = None) -> None:
    """Replace the spec of an environment with a spec file (its name stays)."""
    spec = _load(file)
    with _client(name) as client:
        _emit(client.patch_environment(name, spec), output)


@environment_app.command("delete")
def delete(name: NameArgument, output: OutputOption = None) -> None:
    """Delete an environment (experiments that name it and have not started fail)."""
    with _client(name) as client:
        _emit(client.delete_environment(name), output)

"""The ``submarine`` command: Typer commands over the public client.

Exit codes: 0 done (for waits: Succeeded), 1 Failed/Deleted or an error, 2 a wait timed
out, 3 a usage error, 4 the server cannot be reached, 130 Ctrl-C. Every error is one line
on standard error, never a traceback (set ``SUBMARINE_DEBUG=1`` to get one).
"""

from __future__ import annotations

import enum
import inspect
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Final, cast

import typer
from typer.core import TyperGroup

from submarine._server_options import SERVER_OPTIONS
from submarine._version import __version__
from submarine.cli._environment import environment_app
from submarine.cli._errors import CliError, ExitCode, describe, report
from submarine.cli._experiment import STATE, experiment_app
from submarine.cli._specfile import check_any_file
from submarine.cli._template import template_app
from submarine.cli._verbs import config_app, delete_app, get_app, list_app
from submarine.models.schema import experiment_schema, render, spec_schema, template_schema

__all__ = ["app", "run"]


class _Group(TyperGroup):
    """The root group: maps every error to one line and an exit code (usage errors: 3)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line and exit with the CLI's own exit codes."""
        code = run_group(self, args, prog_name, complete_var, **extra)
        if not standalone_mode:
            return code
        sys.exit(code)


GLOBAL_OPTIONS: Final = ("--host", "--token")
"""Options of the whole command that may also be written after an experiment or template
command."""


CLIENT_GROUPS: Final = ("experiment", "template")
"""The command groups that talk to a server, after which the global options may stand."""


def hoist_globals(args: list[str]) -> list[str]:
    """Move ``--host``/``--token`` written after ``experiment ...`` (or ``template ...``) to
    the front, so that ``submarine experiment list --host URL`` works as ``submarine --host
    URL experiment list``. (``submarine server --host`` is the address to bind, and is left
    alone.)"""
    found = [args.index(group) for group in CLIENT_GROUPS if group in args]
    if not found:
        return args
    start = min(found)
    front, rest = args[:start], []
    index = start
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            if "=" in arg:
                front.append(arg)
            elif index + 1 < len(args):
                front.extend(args[index : index + 2])
                index += 1
            else:
                rest.append(arg)  # no value: let click say so
        else:
            rest.append(arg)
        index += 1
    return front + rest


def run_group(
    group: TyperGroup,
    args: Sequence[str] | None,
    prog_name: str | None,
    complete_var: str | None,
    **extra: Any,
) -> int:
    """Invoke ``group`` without click's own error handling; return the exit code."""
    args = hoist_globals(list(sys.argv[1:] if args is None else args))
    try:
        result = TyperGroup.main(
            group, args, prog_name, complete_var, standalone_mode=False, **extra
        )
    except typer.TyperException as exc:  # click's ClickException and UsageError
        usage = getattr(exc, "exit_code", 1) == 2
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, on stderr
            sys.stderr.write(exc.format_message() + "\n")
            return int(ExitCode.USAGE)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if usage and ctx is not None else ""
        # Typer converts values with pydantic, whose messages start "Value error, ".
        report(exc.format_message().replace("Value error, ", "") + hint)
        return int(ExitCode.USAGE if usage else ExitCode.FAILED)
    except typer.Abort:
        report("aborted")
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        report("interrupted")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        if os.environ.get("SUBMARINE_DEBUG"):
            raise
        message, code = describe(exc, STATE.host)
        report(message)
        return int(code)
    return result if isinstance(result, int) else 0


app = typer.Typer(
    cls=_Group,
    name="submarine",
    help="Drive Apache Submarine experiments and templates from a terminal, or run a local server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)
app.add_typer(experiment_app)
app.add_typer(template_app)
app.add_typer(environment_app)
for _verb in (list_app, get_app, delete_app, config_app):  # 0.8.0's spellings
    app.add_typer(_verb)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"submarine-sdk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Server URL. Default: $SUBMARINE_HOST, else $SUBMARINE_SERVER_DNS_NAME:"
            "$SUBMARINE_SERVER_PORT, else `submarine config`'s connection, else "
            "http://localhost:8080.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Bearer token. Default: $SUBMARINE_TOKEN.", show_default=False
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Drive Apache Submarine experiments from a terminal, or run a local server.

    Exit codes: 0 done (a waited experiment Succeeded), 1 Failed, Deleted or an error,
    2 a wait timed out, 3 a usage error, 4 the server cannot be reached.
    """
    STATE.host_option = host
    STATE.token = token
    STATE.host = None


# -- validate, schema, server ----------------------------------------------------------------


@app.command("validate")
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Spec or template files: .yaml, .yml or .json (a template has experimentSpec).",
            show_default=False,
        ),
    ],
) -> None:
    """Check spec and template files: every problem as FILE:LINE: path: message; exit 1 if
    any is invalid."""
    invalid = 0
    for file in files:
        _, problems = check_any_file(file)
        if problems:
            invalid += 1
            for problem in problems:
                sys.stdout.write(f"{problem}\n")
        else:
            sys.stdout.write(f"{file}: valid\n")
    sys.stdout.flush()
    if invalid:
        noun = "file is" if invalid == 1 else "files are"
        raise CliError(f"{invalid} of {len(files)} {noun} not valid")


class SchemaKind(str, enum.Enum):
    """Which JSON Schema ``submarine schema`` prints."""

    SPEC = "spec"
    EXPERIMENT = "experiment"
    TEMPLATE = "template"


@app.command("schema")
def schema(
    kind: Annotated[
        SchemaKind,
        typer.Argument(
            case_sensitive=False,
            help="spec: what create takes; experiment: what the server reports; template: "
            "what template create takes.",
        ),
    ] = SchemaKind.SPEC,
) -> None:
    """Print the JSON Schema of a spec file, of an experiment or of a template file."""
    makers = {
        SchemaKind.SPEC: spec_schema,
        SchemaKind.EXPERIMENT: experiment_schema,
        SchemaKind.TEMPLATE: template_schema,
    }
    chosen = makers[kind]()
    sys.stdout.write(render(chosen))
    sys.stdout.flush()


def server(**given: str | bool | list[str] | None) -> None:
    """Run the local Submarine-compatible server in the foreground; Ctrl-C stops it.

    Experiments run as local processes from the current directory; images are ignored.
    """
    try:  # here, not at the top: the server is an optional extra (starlette, uvicorn)
        from submarine.server import ServerStartError, SettingsError, serve
        from submarine.server.settings import settings_from_options
    except ImportError as exc:
        raise CliError(
            f"the local server needs the 'server' extra ({exc.name} is missing): "
            "pip install 'submarine-sdk[server]'"
        ) from None
    try:
        settings = settings_from_options(given)
        problem = settings.bind_problem()
        if problem is not None:
            raise SettingsError(problem)
    except SettingsError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        serve(settings)
    except (SettingsError, ServerStartError) as exc:
        raise CliError(str(exc)) from None


def _server_parameters() -> inspect.Signature:
    """The options of ``submarine server``: those of ``python -m submarine.server``, as
    declared on the server's settings (values are read, and checked, by
    ``settings_from_options``)."""
    parameters = []
    for option in SERVER_OPTIONS:
        if option.switch:
            annotation: Any = Annotated[bool, typer.Option(option.flag, help=option.help)]
            default: Any = False
        else:
            annotation = Annotated[
                list[str] | None if option.repeatable else str | None,
                typer.Option(
                    option.flag, help=option.help, metavar=option.metavar, show_default=False
                ),
            ]
            default = None
        parameters.append(
            inspect.Parameter(
                option.field, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    return inspect.Signature(parameters, return_annotation=None)


# Typer reads a command's options from its signature: give ``server`` that of the table.
cast(Any, server).__signature__ = _server_parameters()
app.command("server")(server)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``sys.argv[1:]`` by default); return the exit code."""
    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return run_group(command, argv, "submarine", None)

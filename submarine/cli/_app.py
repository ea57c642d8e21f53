"""The ``submarine`` command: Typer commands over the public client.

Exit codes: 0 done (for waits: Succeeded), 1 Failed/Deleted or an error, 2 a wait timed
out, 3 a usage error, 4 the server cannot be reached, 130 Ctrl-C. Every error is one line
on standard error, never a traceback (set ``SUBMARINE_DEBUG=1`` to get one).
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, cast

import typer
from typer.core import TyperGroup

from submarine._server_options import SERVER_OPTIONS
from submarine._version import __version__
from submarine.cli._errors import CliError, ExitCode, describe, report
from submarine.cli._output import OutputFormat, emit

if TYPE_CHECKING:
    from submarine.client import ExperimentClient
    from submarine.models import ExperimentSpec, ExperimentStatus

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
"""Options of the whole command that may also be written after an experiment command."""


def hoist_globals(args: list[str]) -> list[str]:
    """Move ``--host``/``--token`` written after ``experiment ...`` to the front, so that
    ``submarine experiment list --host URL`` works as ``submarine --host URL experiment list``.
    (``submarine server --host`` is the address to bind, and is left alone.)"""
    if "experiment" not in args:
        return args
    start = args.index("experiment")
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
        message, code = describe(exc, _STATE.host)
        report(message)
        return int(code)
    return result if isinstance(result, int) else 0


@dataclass
class _State:
    """The global options, and the host of the client made from them."""

    host_option: str | None = None
    token: str | None = None
    host: str | None = None


_STATE = _State()

app = typer.Typer(
    cls=_Group,
    name="submarine",
    help="Drive Apache Submarine experiments from a terminal, or run a local server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)
experiment_app = typer.Typer(
    name="experiment",
    help="Create, inspect, follow and delete experiments.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(experiment_app)


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
            "$SUBMARINE_SERVER_PORT, else http://localhost:8080.",
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
    _STATE.host_option = host
    _STATE.token = token
    _STATE.host = None


# -- helpers -----------------------------------------------------------------------------


@contextlib.contextmanager
def _client() -> Iterator[ExperimentClient]:
    """A client for the global options (and the environment), closed afterwards."""
    from submarine.client import ExperimentClient

    try:
        client = ExperimentClient(_STATE.host_option, token=_STATE.token)
    except ValueError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    _STATE.host = client.host
    with client:
        yield client


@contextlib.contextmanager
def _about(experiment_id: str) -> Iterator[None]:
    """Turn "Not found experiment." into a line that names the id and what to do."""
    from submarine.client import NotFoundError

    try:
        yield
    except NotFoundError:
        raise CliError(
            f"no experiment {experiment_id!r} on {_STATE.host}: "
            "`submarine experiment list` shows the ids there are"
        ) from None


def _load_spec(path: Path) -> ExperimentSpec:
    """A valid spec from a file, or every problem (with its line) and exit 1."""
    from submarine.cli._specfile import check_file

    spec, problems = check_file(path)
    if spec is None:
        for problem in problems[:-1]:
            report(str(problem))
        raise CliError(str(problems[-1]) if problems else f"{path}: not a valid spec")
    return spec


OutputOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "-o",
        "--output",
        case_sensitive=False,
        help="Output format. Default: table on a terminal, json otherwise.",
        show_default=False,
    ),
]
SpecOption = Annotated[
    Path,
    typer.Option(
        "-f",
        "--file",
        exists=True,
        dir_okay=False,
        readable=True,
        help="The experiment spec: a .yaml, .yml or .json file.",
    ),
]
IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The experiment id.", show_default=False)
]
IntervalOption = Annotated[
    float,
    typer.Option(
        "--interval", min=0.1, help="Seconds between two looks at the server.", show_default=True
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0,
        help="Give up (exit 2) after this many seconds; the experiment keeps running.",
        show_default=False,
    ),
]


def _wait(
    client: ExperimentClient,
    experiment_id: str,
    *,
    interval: float,
    timeout: float | None,
    follow: bool,
    output: OutputFormat | None,
) -> None:
    from submarine.cli._watch import exit_code_of, watch

    with _about(experiment_id):
        final = watch(client, experiment_id, interval=interval, timeout=timeout, follow=follow)
    if output is not None:
        emit(final, output)
    code = exit_code_of(final)
    if code:
        raise typer.Exit(int(code))


# -- experiment commands -------------------------------------------------------------------


@experiment_app.command("create")
def create(
    file: SpecOption,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until it Succeeded (exit 0) or not (exit 1).")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Print its log lines as they come (implies --wait).")
    ] = False,
    timeout: TimeoutOption = None,
    interval: IntervalOption = 2.0,
    output: OutputOption = None,
) -> None:
    """Create an experiment from a spec file, and optionally wait for it to finish.

    With --wait the final experiment is printed only when -o is given.
    """
    spec = _load_spec(file)
    with _client() as client:
        experiment = client.create_experiment(spec)
        if not (wait or follow):
            emit(experiment, output)
            return
        from submarine.cli._output import error_console

        name = spec.meta.name
        error_console().print(f"created {experiment.experiment_id} ({name})", markup=False)
        _wait(
            client,
            experiment.experiment_id,
            interval=interval,
            timeout=timeout,
            follow=follow,
            output=output,
        )


_STATUSES = ("Accepted", "Created", "Running", "Succeeded", "Failed", "Deleted")


def _parse_status(value: str) -> ExperimentStatus:
    from submarine.models import parse_status

    try:
        return parse_status(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--status'") from None


@experiment_app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only experiments with this status: " + ", ".join(_STATUSES) + " (any case).",
            autocompletion=lambda: list(_STATUSES),
            show_default=False,
        ),
    ] = None,
    output: OutputOption = None,
) -> None:
    """List the experiments on the server."""
    wanted = _parse_status(status) if status is not None else None
    with _client() as client:
        emit(client.list_experiments(wanted), output)


@experiment_app.command("get")
def get(experiment_id: IdArgument, output: OutputOption = None) -> None:
    """Show one experiment."""
    with _client() as client, _about(experiment_id):
        emit(client.get_experiment(experiment_id), output)


@experiment_app.command("patch")
def patch(experiment_id: IdArgument, file: SpecOption, output: OutputOption = None) -> None:
    """Replace the spec of an experiment with a spec file."""
    spec = _load_spec(file)
    with _client() as client, _about(experiment_id):
        emit(client.patch_experiment(experiment_id, spec), output)


@experiment_app.command("delete")
def delete(experiment_id: IdArgument, output: OutputOption = None) -> None:
    """Delete an experiment (its replicas are stopped)."""
    with _client() as client, _about(experiment_id):
        emit(client.delete_experiment(experiment_id), output)


@experiment_app.command("logs")
def logs(
    experiment_id: IdArgument,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep printing new lines until it finishes.")
    ] = False,
    master_only: Annotated[
        bool,
        typer.Option(
            "--master-only", help="Only the master pod: Master, else Chief, else Ps, else worker 0."
        ),
    ] = False,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "-o",
            "--output",
            case_sensitive=False,
            help="json or yaml: the log as data, once. Default: lines, as [worker-0] line.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the log lines of an experiment's pods, as ``[worker-0] line``."""
    from submarine.cli._output import short_pod_name
    from submarine.cli._watch import null_stream

    with _client() as client, _about(experiment_id):
        log = client.get_log(experiment_id, master_only, stream=null_stream())
        if not follow or output not in (None, OutputFormat.TABLE):
            emit(log, output or OutputFormat.TABLE)
            return
        keep = {pod.pod_name for pod in log.pods}
        for pod, line in client.stream_logs(experiment_id, follow=True):
            if master_only and not keep:  # no pod yet when we started: ask again
                again = client.get_log(experiment_id, True, stream=null_stream())
                keep = {p.pod_name for p in again.pods}
            if not master_only or pod in keep:
                sys.stdout.write(f"[{short_pod_name(experiment_id, pod)}] {line}\n")
                sys.stdout.flush()


@experiment_app.command("wait")
def wait_(
    experiment_id: IdArgument,
    timeout: TimeoutOption = None,
    interval: IntervalOption = 2.0,
    follow: Annotated[
        bool, typer.Option("--follow", help="Print its log lines as they come.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Wait until an experiment finishes: exit 0 Succeeded, 1 Failed or Deleted, 2 timeout."""
    with _client() as client:
        _wait(
            client,
            experiment_id,
            interval=interval,
            timeout=timeout,
            follow=follow,
            output=output,
        )


# -- validate, schema, server ----------------------------------------------------------------


@app.command("validate")
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Spec files: .yaml, .yml or .json.", show_default=False)
    ],
) -> None:
    """Check spec files: every problem as FILE:LINE: path: message; exit 1 if any is invalid."""
    from submarine.cli._specfile import check_file

    invalid = 0
    for file in files:
        _, problems = check_file(file)
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


@app.command("schema")
def schema(
    kind: Annotated[
        SchemaKind,
        typer.Argument(
            case_sensitive=False,
            help="spec: what create takes; experiment: what the server reports.",
        ),
    ] = SchemaKind.SPEC,
) -> None:
    """Print the JSON Schema of a spec file or of an experiment."""
    from submarine.models.schema import experiment_schema, render, spec_schema

    chosen = spec_schema() if kind is SchemaKind.SPEC else experiment_schema()
    sys.stdout.write(render(chosen))
    sys.stdout.flush()


def server(**given: str | bool | list[str] | None) -> None:
    """Run the local Submarine-compatible server in the foreground; Ctrl-C stops it.

    Experiments run as local processes from the current directory; images are ignored.
    """
    try:
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
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        serve(settings)
    except (SettingsError, ServerStartError) as exc:
        raise CliError(str(exc)) from None


def _server_parameters() -> inspect.Signature:
    """The options of ``submarine server``: those of ``python -m submarine.server``, from
    the one table of both (values are read, and checked, by ``settings_from_options``)."""
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

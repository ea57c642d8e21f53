"""The ``submarine experiment`` commands: each one a call of the public client.

``create --follow``, ``wait`` and ``logs --follow`` follow the experiment with
:mod:`submarine.cli._live`, built on the client's ``stream_logs``.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from submarine.cli._errors import CliError, ExitCode, report
from submarine.cli._output import OutputFormat, emit, null_stream, show
from submarine.cli._specfile import check_file
from submarine.cli.config.config import ConfigError, configured_host
from submarine.client import ExperimentClient, NotFoundError
from submarine.models import (
    Experiment,
    ExperimentList,
    ExperimentSpec,
    ExperimentStatus,
    parse_status,
)

__all__ = ["STATE", "State", "client_host", "experiment_app"]


@dataclass
class State:
    """The global options, and the host of the client made from them."""

    host_option: str | None = None
    token: str | None = None
    host: str | None = None


STATE = State()


def client_host() -> str | None:
    """The server of the commands: ``--host``, else the environment (the client reads it),
    else the settings of ``submarine config`` (:mod:`submarine.cli.config.config`)."""
    if STATE.host_option is not None:
        return STATE.host_option
    try:
        return configured_host()
    except ConfigError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


experiment_app = typer.Typer(
    name="experiment",
    help="Create, inspect, follow and delete experiments.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# -- helpers -----------------------------------------------------------------------------


@contextlib.contextmanager
def _client() -> Iterator[ExperimentClient]:
    """A client for the global options (and the environment), closed afterwards."""
    try:
        client = ExperimentClient(client_host(), token=STATE.token)
    except ValueError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    STATE.host = client.host
    with client:
        yield client


@contextlib.contextmanager
def _about(experiment_id: str) -> Iterator[None]:
    """Turn "Not found experiment." into a line that names the id and what to do."""
    try:
        yield
    except NotFoundError:
        raise CliError(
            f"no experiment {experiment_id!r} on {STATE.host}: "
            "`submarine experiment list` shows the ids there are"
        ) from None


def _load_spec(path: Path) -> ExperimentSpec:
    """A valid spec from a file, or every problem (with its line) and exit 1."""
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
NameOrIdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="The experiment id, or the name of one experiment.", show_default=False
    ),
]
FullOption = Annotated[
    bool,
    typer.Option(
        "--full",
        help="YAML with every field the server sent (nulls and resourceMap too).",
    ),
]
_ID = re.compile(r"experiment[-_][0-9]+[-_][0-9]+")
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
    from submarine.cli._live import exit_code_of, watch  # the live display: only when waiting

    with _about(experiment_id):
        final = watch(client, experiment_id, interval=interval, timeout=timeout, print_lines=follow)
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
        name = spec.meta.name
        show(f"created {experiment.experiment_id} ({name or ''})\n", sys.stderr)
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
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="TEXT",
            help="Only experiments whose name holds TEXT (any case).",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = None,
    full: FullOption = False,
) -> None:
    """List the experiments on the server."""
    wanted = _parse_status(status) if status is not None else None
    with _client() as client:
        experiments = client.list_experiments(wanted)
    if name is not None:
        experiments = ExperimentList.of(e for e in experiments if name.lower() in _name_of(e))
    emit(experiments, output, full=full)


def _name_of(experiment: Experiment) -> str:
    spec = experiment.spec
    return ((spec.meta.name if spec is not None else None) or experiment.name or "").lower()


def _named(client: ExperimentClient, text: str) -> Experiment | None:
    """The one experiment named ``text`` when ``text`` is no experiment id; several of that
    name are an error naming each."""
    if _ID.fullmatch(text):
        return None
    matches = [e for e in client.list_experiments() if _name_of(e) == text.lower()]
    if len(matches) > 1:
        listed = ", ".join(f"{e.experiment_id} ({e.status_name})" for e in matches)
        raise CliError(f"{len(matches)} experiments are named {text!r}: {listed}; give one id")
    if matches:
        report(f"{text!r} is the name of {matches[0].experiment_id}")
        return matches[0]
    return None


@experiment_app.command("get")
def get(
    experiment_id: NameOrIdArgument, output: OutputOption = None, full: FullOption = False
) -> None:
    """Show one experiment, by id (or by name, when one experiment has it)."""
    with _client() as client, _about(experiment_id):
        found = _named(client, experiment_id) or client.get_experiment(experiment_id)
    emit(found, output, full=full)


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
    interval: IntervalOption = 2.0,
) -> None:
    """Print the log lines of an experiment's pods, as ``[worker-0] line``.

    With --follow, lines of every pod are printed as they are written, until the
    experiment ends; on a terminal a live line below them shows how it is doing.
    """
    with _client() as client, _about(experiment_id):
        if not follow or output not in (None, OutputFormat.TABLE):
            log = client.get_log(experiment_id, master_only, stream=null_stream())
            emit(log, output or OutputFormat.TABLE)
            return
        from submarine.cli._live import watch  # the live display: only when following

        watch(
            client,
            experiment_id,
            interval=interval,
            timeout=None,
            print_lines=True,
            show_pod=_MasterPod(client, experiment_id) if master_only else None,
        )


class _MasterPod:
    """Whether a pod is the master pod, as ``get_log(onlyMaster=True)`` picks it; asked
    again whenever a pod not seen before writes, since a later pod may outrank it."""

    def __init__(self, client: ExperimentClient, experiment_id: str) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.seen: set[str] = set()
        self.master: str | None = None

    def __call__(self, pod: str) -> bool:
        if pod not in self.seen:
            self.seen.add(pod)
            log = self.client.get_log(self.experiment_id, True, stream=null_stream())
            self.master = log.pods[0].pod_name if log.pods else None
        return pod == self.master


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

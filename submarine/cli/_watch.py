"""Waiting for an experiment: a live line on a terminal, plain progress lines otherwise.

On a terminal (standard error is one) a single line is redrawn in place: a spinner, the
status, the time waited, how many replicas run and the latest log line. Elsewhere a line
is written whenever the status changes. With ``follow``, new log lines go to standard
output as ``[worker-0] ...``, above the live line.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from submarine.cli._errors import CliError, ExitCode
from submarine.cli._output import error_console, short_pod_name, status_style

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from submarine.client import ExperimentClient
    from submarine.models import Experiment, ExperimentLog

__all__ = ["WatchState", "exit_code_of", "format_elapsed", "null_stream", "watch"]


def format_elapsed(seconds: float) -> str:
    """``0:07``, ``12:34`` or ``1:02:03``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class WatchState:
    """What is known about the experiment being waited for."""

    experiment_id: str
    started: float = field(default_factory=time.monotonic)
    status: str = ""
    replicas: int = 0
    latest: tuple[str, str] | None = None
    shown: dict[str, int] = field(default_factory=dict)

    def elapsed(self) -> str:
        """Time since the wait began, as ``m:ss``."""
        return format_elapsed(time.monotonic() - self.started)

    def take(self, log: ExperimentLog) -> list[tuple[str, str]]:
        """The log lines not seen before, as (short pod name, line); counts the replicas."""
        new: list[tuple[str, str]] = []
        for pod in log.pods:
            lines = pod.lines
            seen = self.shown.get(pod.pod_name, 0)
            if len(lines) < seen:  # a restarted pod: its log starts again
                seen = 0
            name = short_pod_name(self.experiment_id, pod.pod_name)
            new.extend((name, line) for line in lines[seen:])
            self.shown[pod.pod_name] = len(lines)
        if log.pods:
            self.replicas = len(log.pods)
        for name, line in reversed(new):
            if line.strip():
                self.latest = (name, line.strip())
                break
        return new

    def parts(self) -> list[str]:
        """The pieces of a progress line: status, time, replicas."""
        parts = [self.status or "waiting", self.elapsed()]
        if self.replicas:
            parts.append(f"{self.replicas} replica{'s' if self.replicas != 1 else ''}")
        return parts


class _LiveLine:
    """The redrawn line; the elapsed time is computed each time it is drawn."""

    def __init__(self, state: WatchState) -> None:
        from rich.spinner import Spinner

        self.state = state
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        state = self.state
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(state.status or "waiting", style=status_style(state.status) or "bold")
        for part in state.parts()[1:]:
            text.append(f" · {part}")
        if state.latest is not None:
            pod, line = state.latest
            text.append(f" · {pod}: ", style="dim")
            text.append(line, style="dim")
        self.spinner.update(text=text)
        yield self.spinner


class _NullStream(io.TextIOBase):
    """Swallows what the client would print of a log."""

    def write(self, text: str) -> int:
        return len(text)


def null_stream() -> IO[str]:
    """A text stream that discards what is written to it."""
    return cast("IO[str]", _NullStream())


def _print_lines(lines: list[tuple[str, str]]) -> None:
    for pod, line in lines:
        sys.stdout.write(f"[{pod}] {line}\n")
    sys.stdout.flush()


def watch(
    client: ExperimentClient,
    experiment_id: str,
    *,
    interval: float,
    timeout: float | None,
    follow: bool,
    console: Console | None = None,
) -> Experiment:
    """Poll until the experiment is Succeeded, Failed or Deleted and return it.

    Raises :class:`CliError` with :attr:`ExitCode.TIMEOUT` when ``timeout`` seconds pass
    first, and with :attr:`ExitCode.INTERRUPTED` on Ctrl-C (the experiment keeps running).
    """
    from submarine.client import NotFoundError
    from submarine.models import ExperimentStatus

    err = console or error_console()
    state = WatchState(experiment_id)
    deadline = None if timeout is None else state.started + timeout
    live_context: Any = contextlib.nullcontext()
    if err.is_terminal:
        from rich.live import Live

        live_context = Live(
            _LiveLine(state),
            console=err,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=False,
        )
    want_logs = follow or err.is_terminal
    last: Experiment | None = None
    try:
        with live_context:
            while True:
                try:
                    experiment = client.get_experiment(experiment_id)
                    if want_logs:
                        new = state.take(client.get_log(experiment_id, stream=null_stream()))
                        if follow:
                            _print_lines(new)
                except NotFoundError:
                    if last is None:
                        raise
                    # Seen, then gone: deleted (a real server forgets deleted experiments).
                    experiment = last.model_copy(update={"status": ExperimentStatus.DELETED})
                last = experiment
                status = experiment.status_name
                if not state.replicas and experiment.spec is not None:
                    state.replicas = experiment.spec.total_replicas
                if status != state.status:
                    state.status = status
                    if not err.is_terminal:
                        err.print(f"{experiment_id}: " + " · ".join(state.parts()), markup=False)
                if experiment.is_terminal:
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise CliError(
                        f"experiment {experiment_id} did not finish within {timeout:g} s "
                        f"(last status: {status or 'unknown'}); it keeps running: wait again "
                        f"with `submarine experiment wait {experiment_id}`",
                        ExitCode.TIMEOUT,
                    )
                pause = interval if deadline is None else min(interval, deadline - now)
                time.sleep(max(0.0, pause))
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; experiment {experiment_id} keeps running "
            f"(`submarine experiment delete {experiment_id}` stops it)",
            ExitCode.INTERRUPTED,
        ) from None
    if err.is_terminal:
        from rich.text import Text

        line = Text("● " if experiment.status_name == "Succeeded" else "✗ ")
        line.stylize(status_style(experiment.status_name))
        line.append(f"{experiment_id}: ")
        line.append(state.parts()[0], style=status_style(experiment.status_name))
        line.append(" after " + " · ".join(state.parts()[1:]))
        err.print(line)
    return experiment


def exit_code_of(experiment: Experiment) -> ExitCode:
    """0 for Succeeded, 1 for Failed or Deleted (or any other end)."""
    return ExitCode.OK if experiment.status_name == "Succeeded" else ExitCode.FAILED

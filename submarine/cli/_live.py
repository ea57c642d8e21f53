"""Watching an experiment run: its log lines as they are written, and how it is doing.

The lines come from the client's :meth:`~submarine.client.ExperimentClient.stream_logs`,
interleaved across pods and printed to standard output as ``[worker-0] ...``. On a
terminal (standard error is one) a live line is redrawn below them: a spinner, the
status, the time the run has taken, the replicas, how many lines came and the latest one.
Elsewhere a progress line is written when the status is first seen, when it changes, and
at the end. The time is the run's own, from the server's times (since it ran, else since it
was accepted; until it finished), not the command's. An experiment that ends otherwise than
Succeeded is followed by the reason the server gives (the failing pod and its exit code or
signal), when it gives one.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from submarine.cli._errors import CliError, ExitCode
from submarine.cli._output import short_pod_name, show
from submarine.cli._tables import error_console, status_style
from submarine.client import NotFoundError, WaitTimeoutError
from submarine.models import TERMINAL_STATUSES, ExperimentStatus

if TYPE_CHECKING:
    from submarine.client import ExperimentClient, LogStream
    from submarine.models import Experiment

__all__ = ["Progress", "exit_code_of", "format_elapsed", "watch"]

_ENDS = frozenset(status.value for status in TERMINAL_STATUSES)


def format_elapsed(seconds: float) -> str:
    """``0:07``, ``12:34`` or ``1:02:03``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class Progress:
    """What is known of the experiment being watched; the live line draws it."""

    experiment_id: str
    status: str = ""
    replicas: int = 0
    lines: int = 0
    latest: tuple[str, str] | None = None
    started: float = field(default_factory=time.monotonic)
    stream: LogStream | None = None
    since: datetime | None = None
    """When the run began, as the server says (its running time, else its accepted time)."""
    until: datetime | None = None
    """When it finished, as the server says."""
    reason: str | None = None
    """Why it waits (or failed), as the server said when last asked."""

    def learn(self, experiment: Experiment) -> None:
        """Take the run's own times from the experiment as the server answered it."""
        begun = experiment.running_time or experiment.accepted_time
        self.since = begun if isinstance(begun, datetime) else self.since
        ended = experiment.finished_time
        self.until = ended if isinstance(ended, datetime) else None
        self.reason = experiment.reason

    def current_status(self) -> str:
        """The status the log stream saw last, else the one known at the start."""
        seen = self.stream.status if self.stream is not None else ""
        return seen or self.status

    def take(self, pod: str, line: str) -> None:
        """Count a new line; remember it as the latest when it is not blank."""
        self.lines += 1
        if line.strip():
            self.latest = (pod, line.strip())

    def parts(self) -> list[str]:
        """The pieces of a progress line: status, time, replicas, and why it waits."""
        status = self.current_status()
        parts = [status or "waiting", format_elapsed(self.elapsed())]
        if self.replicas:
            parts.append(f"{self.replicas} replica{'s' if self.replicas != 1 else ''}")
        if status == ExperimentStatus.ACCEPTED.value and self.reason:
            parts.append(self.reason)  # why it waits: its place in the queue, what it needs
        return parts

    def elapsed(self) -> float:
        """How long the run has been going (until it finished), by the server's times;
        since the watch began when the server gives none."""
        if self.since is None:
            return time.monotonic() - self.started
        end = self.until or datetime.now(timezone.utc)
        return (end - self.since).total_seconds()


class _LiveLine:
    """The redrawn line; everything on it is read each time it is drawn."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        progress = self.progress
        status, *rest = progress.parts()
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(status, style=status_style(status) or "bold")
        for part in rest:
            text.append(f" · {part}")
        if progress.lines:
            text.append(f" · {progress.lines} line{'s' if progress.lines != 1 else ''}")
        if progress.latest is not None:
            pod, line = progress.latest
            text.append(f" · {pod}: ", style="dim")
            text.append(line, style="dim")
        self.spinner.update(text=text)
        yield self.spinner


def _print_line(pod: str, line: str) -> None:
    show(f"[{pod}] {line}\n")


@contextlib.contextmanager
def _live_line(progress: Progress, console: Console) -> Iterator[None]:
    """The live line on a terminal, for the duration of the block; nothing elsewhere."""
    if not console.is_terminal:
        yield
        return
    with Live(
        _LiveLine(progress),
        console=console,
        refresh_per_second=8,
        transient=True,
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    ):
        yield


def watch(
    client: ExperimentClient,
    experiment_id: str,
    *,
    interval: float,
    timeout: float | None,
    print_lines: bool,
    show_pod: Callable[[str], bool] | None = None,
    console: Console | None = None,
) -> Experiment:
    """Follow an experiment's log until it is Succeeded, Failed or Deleted; return it.

    :param print_lines: print each new line to standard output as ``[pod] line``.
    :param show_pod: which pods' lines to print (all by default).
    :param console: where progress goes (standard error by default).

    Raises :class:`CliError` with :attr:`ExitCode.TIMEOUT` when ``timeout`` seconds pass
    first, and with :attr:`ExitCode.INTERRUPTED` on Ctrl-C (the experiment keeps running).
    """
    err = console or error_console()
    first = client.get_experiment(experiment_id)
    progress = Progress(experiment_id, status=first.status_name)
    progress.learn(first)
    if first.spec is not None:
        progress.replicas = first.spec.total_replicas
    reported = ""

    def report_status(*, ended: bool = False) -> None:
        nonlocal reported
        status = progress.current_status()
        if not ended and status in _ENDS:
            return  # said at the end, with the run's final times
        if status != reported and not err.is_terminal:
            err.print(f"{experiment_id}: " + " · ".join(progress.parts()), markup=False)
        reported = status

    report_status()
    try:
        with (
            _live_line(progress, err),
            client.stream_logs(experiment_id, polling_interval=interval, timeout=timeout) as lines,
        ):
            progress.stream = lines
            for pod_name, line in lines:
                pod = short_pod_name(experiment_id, pod_name)
                progress.take(pod, line)
                if print_lines and (show_pod is None or show_pod(pod_name)):
                    _print_line(pod, line)
                report_status()
    except WaitTimeoutError:
        raise CliError(
            f"experiment {experiment_id} did not finish within {timeout:g} s (last status: "
            f"{progress.current_status() or 'unknown'}); it keeps running: wait again with "
            f"`submarine experiment wait {experiment_id}`",
            ExitCode.TIMEOUT,
        ) from None
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; experiment {experiment_id} keeps running "
            f"(`submarine experiment delete {experiment_id}` stops it)",
            ExitCode.INTERRUPTED,
        ) from None
    final = _final(client, first)
    progress.stream = None
    progress.status = final.status_name
    progress.learn(final)
    report_status(ended=True)
    if err.is_terminal:
        _print_end(err, progress)
    if final.reason and final.status_name != ExperimentStatus.SUCCEEDED.value:
        err.print(f"{experiment_id}: {final.reason}", markup=False, highlight=False)
    return final


def _final(client: ExperimentClient, first: Experiment) -> Experiment:
    """The experiment as it ended; seen, then gone, means deleted (a real server forgets
    deleted experiments)."""
    try:
        return client.get_experiment(first.experiment_id)
    except NotFoundError:
        return first.model_copy(update={"status": ExperimentStatus.DELETED})


def _print_end(console: Console, progress: Progress) -> None:
    status, *rest = progress.parts()
    line = Text("● " if status == "Succeeded" else "✗ ")
    line.stylize(status_style(status))
    line.append(f"{progress.experiment_id}: ")
    line.append(status, style=status_style(status))
    line.append(" after " + " · ".join(rest))
    console.print(line)


def exit_code_of(experiment: Experiment) -> ExitCode:
    """0 for Succeeded, 1 for Failed or Deleted (or any other end)."""
    return ExitCode.OK if experiment.status_name == "Succeeded" else ExitCode.FAILED

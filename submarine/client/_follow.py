"""Following an experiment's logs, as steps that the clients run.

With the local server's ``log-stream`` extension, one request long-polls for new lines
after a cursor, and answers as soon as there are some or the experiment ends. A server
without it (Submarine itself) is polled: the status, then the whole log, then a pause;
only lines not seen before are passed on. Either way the follow ends when the
experiment is Succeeded, Failed or Deleted, or vanishes (a 404 after it was seen).

Following is this module's: it needs of a client only what :class:`LogSource` lists (the
client's core is one), and imports nothing of the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Final, Protocol

import httpx
from pydantic import Field

from submarine.client._decode import ExtensionAnswer, decode
from submarine.client._steps import Call, Flow, Lines, Sleep
from submarine.client.config import Timeout
from submarine.client.errors import ExperimentFailedError, NotFoundError, WaitTimeoutError
from submarine.models import Experiment, ExperimentLog

__all__ = [
    "LOG_STREAM",
    "Follower",
    "LogSource",
    "LogStreamPage",
    "LogTracker",
    "StreamPod",
    "check_interval",
]

LOG_STREAM: Final = "log-stream"
"""The local server's extension for following logs with a cursor and a long poll."""
LOG_STREAM_LIMIT: Final = 1 << 20
"""How many bytes of log one log-stream call asks for at most."""
TERMINAL_NAMES: Final = frozenset({"succeeded", "failed", "deleted"})
"""Terminal statuses, lower-cased."""


class StreamPod(ExtensionAnswer):
    """New lines of one pod in a log-stream page."""

    pod_name: str
    lines: list[str] = Field(default_factory=list)


class LogStreamPage(ExtensionAnswer):
    """One answer of the log-stream extension."""

    experiment_id: str | None = None
    status: str | None = None
    pods: list[StreamPod] = Field(default_factory=list)
    cursor: str | None = None
    more: bool = False


@dataclass
class LogTracker:
    """What a follower of one experiment's logs has seen: how many lines per pod, the
    status, and whether the experiment vanished (a 404 after it was seen).

    Lines that were passed on are not kept (following a large log stays flat in memory),
    except with ``keep_lines``, which :meth:`as_log` needs when the experiment vanishes.
    """

    experiment_id: str
    keep_lines: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)
    status: str = ""
    seen: bool = False
    vanished: bool = False
    cursor: str | None = None

    def vanish(self) -> None:
        """The experiment is gone (a 404 after it was seen): it was deleted."""
        self.vanished = True
        self.status = "Deleted"

    @property
    def is_terminal(self) -> bool:
        """Whether the last status seen is Succeeded, Failed or Deleted (or it vanished)."""
        return self.vanished or self.status.lower() in TERMINAL_NAMES

    def _remember(self, pod: str, lines: list[str], restart: bool) -> None:
        if restart:
            self.counts[pod] = len(lines)
        else:
            self.counts[pod] = self.counts.get(pod, 0) + len(lines)
        if self.keep_lines:
            if restart:
                self.kept[pod] = list(lines)
            else:
                self.kept.setdefault(pod, []).extend(lines)

    def take_log(self, log: ExperimentLog) -> Lines:
        """The lines of a whole-log answer that were not passed on yet, now counted.

        A pod whose log got shorter was restarted: its log is passed on again from the start.
        """
        new: Lines = []
        for pod in log.pods:
            lines = pod.lines
            name = pod.pod_name
            shown = self.counts.get(name)
            if shown is None or len(lines) < shown:
                fresh = lines
                self._remember(name, fresh, restart=True)
            else:
                fresh = lines[shown:]
                self._remember(name, fresh, restart=False)
            new.extend((name, line) for line in fresh)
        return new

    def take_page(self, page: LogStreamPage) -> Lines:
        """The lines of a log-stream page (all new), counted; status and cursor remembered."""
        self.seen = True
        if page.status:
            self.status = page.status
        if page.cursor is not None:
            self.cursor = page.cursor
        new: Lines = []
        for pod in page.pods:
            self._remember(pod.pod_name, pod.lines, restart=False)
            new.extend((pod.pod_name, line) for line in pod.lines)
        return new

    def as_log(self) -> ExperimentLog:
        """Every line seen (with ``keep_lines``; else the pods only), as an ExperimentLog."""
        return ExperimentLog.model_validate(
            {
                "experimentId": self.experiment_id,
                "logContent": [
                    {"podName": name, "podLog": list(self.kept.get(name, ()))}
                    for name in self.counts
                ],
            }
        )

    def stream_params(self, wait: float) -> dict[str, str]:
        """Query parameters of the next log-stream call."""
        params = {"wait": f"{wait:.3f}", "limit": str(LOG_STREAM_LIMIT)}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        return params


def check_interval(polling_interval: float, timeout: float | None) -> None:
    """Refuse a polling interval or timeout that cannot work, saying what would."""
    if isinstance(polling_interval, bool) or not isinstance(polling_interval, (int, float)):
        raise TypeError(f"polling_interval must be a number of seconds, got {polling_interval!r}")
    if polling_interval < 0:
        raise ValueError(f"polling_interval must be 0 or more seconds, got {polling_interval}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise ValueError(f"timeout must be None or 0 or more seconds, got {timeout!r}")


def _log_unless_gone(response: httpx.Response) -> ExperimentLog | None:
    """The log of an answer, or None when the experiment is gone (404)."""
    return None if response.status_code == 404 else decode(ExperimentLog, response)


class LogSource(Protocol):
    """What a follower needs of a client: its timeout, what the server offers, and the
    calls and URLs of an experiment and its logs."""

    @property
    def timeout(self) -> Timeout:
        """The client's timeout (a long poll reads longer)."""

    @property
    def extensions(self) -> frozenset[str] | None:
        """The server's extensions, once :meth:`extensions_call` asked; None before."""

    def extensions_call(self) -> Call[frozenset[str]]:
        """Ask the server which extensions it offers; its answer sets :attr:`extensions`."""

    def get_call(self, id: str) -> Call[Experiment]:
        """Get one experiment."""

    def log_url(self, experiment_id: str) -> str:
        """The URL of one experiment's whole log."""

    def stream_url(self, experiment_id: str) -> str:
        """The URL of one experiment's log-stream (the local server's extension)."""


class Follower:
    """Follows one experiment's logs: :meth:`flow` yields the calls and pauses, and the
    new lines as they come.

    :param source: what the client knows (URLs, timeouts, the server's extensions).
    :param experiment_id: the experiment to follow.
    :param follow: go on until the experiment ends; with False, take what is there now.
    :param polling_interval: seconds between two looks at a server without the log-stream
        extension; with it, the longest one request waits for new output.
    :param timeout: give up with :class:`WaitTimeoutError` after this many seconds.
    :param clock: the client's monotonic clock.
    :param waiting: keep every line and fetch the final log at the end, for
        :meth:`outcome` (``wait_for_finish``).
    """

    def __init__(
        self,
        source: LogSource,
        experiment_id: str,
        *,
        follow: bool,
        polling_interval: float,
        timeout: float | None,
        clock: Callable[[], float],
        waiting: bool = False,
    ) -> None:
        check_interval(polling_interval, timeout)
        self.source = source
        self.tracker = LogTracker(experiment_id, keep_lines=waiting)
        self.follow = follow
        self.polling_interval = polling_interval
        self.timeout = timeout
        self.clock = clock
        self.deadline = None if timeout is None else clock() + timeout
        self.waiting = waiting
        self.final: ExperimentLog | None = None

    def _next_wait(self) -> float:
        """Seconds to wait (or long-poll) before the next look; past the deadline, raise
        :class:`WaitTimeoutError`."""
        if self.deadline is None:
            return self.polling_interval
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            tracker = self.tracker
            raise WaitTimeoutError(tracker.experiment_id, self.timeout or 0.0, tracker.status)
        return min(self.polling_interval, remaining)

    def flow(self) -> Flow:
        """The steps of following: ask once whether the server streams logs, follow one
        way or the other, then (when waiting) fetch the final log."""
        source = self.source
        if source.extensions is None:
            yield source.extensions_call()
        extensions = source.extensions
        assert extensions is not None
        if LOG_STREAM in extensions:
            yield from self._stream()
        else:
            yield from self._poll()
        if self.waiting and not self.tracker.vanished:
            url = source.log_url(self.tracker.experiment_id)
            self.final = yield Call("GET", url, read=_log_unless_gone)

    def _stream(self) -> Flow:
        """Follow with the log-stream extension: a cursor and a long poll."""
        tracker = self.tracker
        url = self.source.stream_url(tracker.experiment_id)
        read = partial(decode, LogStreamPage)
        wait = 0.0
        while True:
            timeout = self.source.timeout.with_longer_read(wait)
            params = tracker.stream_params(wait)
            call = Call("GET", url, read=read, params=params, timeout=timeout, long_poll=wait)
            try:
                page: LogStreamPage = yield call
            except NotFoundError:
                if tracker.seen:
                    tracker.vanish()
                    return
                raise
            lines = tracker.take_page(page)
            if lines:
                yield lines
            if page.more:
                wait = 0.0
                continue
            if not self.follow or tracker.is_terminal:
                return
            wait = self._next_wait()

    def _poll(self) -> Flow:
        """Follow a server without the extension: status, then whole logs, then a pause."""
        tracker = self.tracker
        experiment_id = tracker.experiment_id
        log_url = self.source.log_url(experiment_id)
        while True:
            try:
                experiment = yield self.source.get_call(experiment_id)
                tracker.status = experiment.status_name
                tracker.seen = True
                log = yield Call("GET", log_url, read=partial(decode, ExperimentLog))
            except NotFoundError:
                if tracker.seen:
                    tracker.vanish()
                    return
                raise
            lines = tracker.take_log(log)
            if lines:
                yield lines
            if not self.follow or tracker.is_terminal:
                return
            yield Sleep(self._next_wait())

    def outcome(self, raise_on_failure: bool) -> ExperimentLog:
        """The final log once :meth:`flow` is over; ``ExperimentFailedError`` when it ended
        Failed and ``raise_on_failure``."""
        tracker = self.tracker
        log = self.final if self.final is not None else tracker.as_log()
        if raise_on_failure and tracker.status.lower() == "failed":
            raise ExperimentFailedError(tracker.experiment_id, tracker.status, log)
        return log

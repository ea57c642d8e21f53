"""Exit codes, and every error as one readable line on standard error."""

from __future__ import annotations

import enum
import sys
from typing import Final

from submarine.client import errors
from submarine.client._terminal import printable

__all__ = ["CliError", "ExitCode", "describe", "report"]


class ExitCode(enum.IntEnum):
    """What ``submarine`` exits with."""

    OK = 0
    """Done; for ``wait``, the experiment Succeeded."""
    FAILED = 1
    """The experiment Failed or was Deleted, a spec is invalid, or the server said no."""
    TIMEOUT = 2
    """``wait --timeout`` expired before the experiment finished."""
    USAGE = 3
    """The command line is wrong: an unknown option, a missing argument, a bad value."""
    UNREACHABLE = 4
    """The server could not be reached."""
    INTERRUPTED = 130
    """Ctrl-C."""


class CliError(Exception):
    """An error the CLI reports as one line and an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_START_ONE: Final = (
    "start a local one with `submarine server`, or point --host (or SUBMARINE_HOST) at yours"
)


def _base_url(url: str) -> str:
    for marker in ("/api/", "/api"):
        if marker in url:
            return url.split(marker, 1)[0]
    return url


def describe(exc: BaseException, host: str | None = None) -> tuple[str, ExitCode]:
    """The one-line message and the exit code of an error raised by a command."""
    if isinstance(exc, CliError):
        return exc.message, exc.code
    where = host or _base_url(getattr(exc, "url", "") or "") or "the Submarine server"
    if isinstance(exc, errors.DeadlineExceededError):
        return (
            f"the server at {where} did not finish answering {exc.method} within "
            f"{exc.deadline:g} s (the client's deadline for one request, retries included)",
            ExitCode.UNREACHABLE,
        )
    if isinstance(exc, errors.ResponseTooLargeError):
        return (
            f"the server at {where} answered {exc.method} {exc.path} with more than "
            f"{exc.limit} bytes, the client's limit for one answer; nothing was shown",
            ExitCode.FAILED,
        )
    if isinstance(exc, errors.APIConnectionError):
        cause = exc.__cause__
        reason = (str(cause) or type(cause).__name__) if cause is not None else str(exc)
        if isinstance(exc, errors.APITimeoutError):
            reason = f"no answer in time: {reason}" if cause is not None else reason
        return (
            f"cannot reach the Submarine server at {where} ({reason}): " + _START_ONE,
            ExitCode.UNREACHABLE,
        )
    if isinstance(exc, errors.WaitTimeoutError):
        return str(exc), ExitCode.TIMEOUT
    if isinstance(exc, errors.AuthenticationError):
        return (
            f"the server at {where} refused the request: {exc.message} (HTTP "
            f"{exc.status_code}); pass --token or set SUBMARINE_TOKEN",
            ExitCode.FAILED,
        )
    if isinstance(exc, errors.NotSupportedError):
        return (
            f"the server at {where} does not offer {exc.feature!r}, an extension of the local "
            "server that Submarine itself lacks",
            ExitCode.FAILED,
        )
    if isinstance(exc, errors.SpecValidationError):
        return "; ".join(str(p) for p in exc.problems), ExitCode.FAILED
    if isinstance(exc, errors.APIStatusError):
        return f"the server at {where} answered: {exc}", ExitCode.FAILED
    if isinstance(exc, errors.SubmarineError):
        return str(exc), ExitCode.FAILED
    return f"unexpected {type(exc).__name__}: {exc}", ExitCode.FAILED


def report(message: str) -> None:
    """Write ``error: <message>`` as one line on standard error (red on a terminal),
    without terminal control sequences (the message may quote a server's)."""
    line = printable(" ".join(message.split()))
    if sys.stderr.isatty():
        from rich.text import Text  # Rich is loaded when something is drawn

        from submarine.cli._tables import error_console

        error_console().print(Text.assemble(("error:", "bold red"), " ", line))
    else:
        sys.stderr.write(f"error: {line}\n")
        sys.stderr.flush()

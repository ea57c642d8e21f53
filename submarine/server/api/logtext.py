"""Log lines the client cannot forge: control characters in logged values are escaped.

Names, images, paths and other values a request carries end up in the server log. A
newline in one (``"image": "x\\n2026-01-01 INFO forged"``) would start a line the server
never wrote; terminal escape sequences would rewrite what an operator's terminal shows.
:func:`log_text` escapes them in one value; :class:`EscapingFilter` escapes them in the
message of every record a handler writes (tracebacks, which are the server's own, stay
as they are). :class:`LineBudget` bounds how many lines a kind of client event may write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

__all__ = ["EscapingFilter", "LineBudget", "escape_controls", "install_escaping", "log_text"]

_ESCAPES: Final = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape_controls(text: str) -> str:
    r"""``text`` with control characters (C0, DEL, C1, line and paragraph separators)
    written as escapes.

    >>> escape_controls("img\n2026-01-01 INFO forged\x1b[2J")
    'img\\n2026-01-01 INFO forged\\x1b[2J'
    """
    return text.translate(_ESCAPES)


def log_text(value: object, limit: int = 200) -> str:
    """A value from a request, fit for a log line: escaped, and cut to ``limit`` characters.

    >>> log_text("a" * 10, limit=4)
    'aaaa...(10 chars)'
    """
    text = str(value)
    if len(text) > limit:
        text = f"{text[:limit]}...({len(text)} chars)"
    return escape_controls(text)


class EscapingFilter(logging.Filter):
    """A handler filter that escapes control characters in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Escape the formatted message in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken record: let the handler report it as it would
            return True
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


def install_escaping(logger: logging.Logger | None = None) -> None:
    """Add an :class:`EscapingFilter` to each handler of ``logger`` (the root logger by
    default) that has none yet."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, EscapingFilter) for f in handler.filters):
            handler.addFilter(EscapingFilter())


class LineBudget:
    """How many log lines a kind of event may write a minute: a client that repeats it
    as fast as it can fills no disk.

    >>> now = [0.0]
    >>> budget = LineBudget(2, clock=lambda: now[0])
    >>> budget.take(), budget.take(), budget.take(), budget.take()
    (0, 0, None, None)
    >>> now[0] = 61.0
    >>> budget.take()
    2

    Args:
        per_minute: lines written each minute; the rest are counted.
        clock: seconds, monotonic (for tests).
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._start = -60.0
        self._written = 0
        self._skipped = 0

    def take(self) -> int | None:
        """None when this event is not to be logged (counted instead); else the number
        of events left unlogged since the last line, for the line to mention."""
        now = self._clock()
        if now - self._start >= 60.0:
            self._start, self._written = now, 0
        if self._written >= self._per_minute:
            self._skipped += 1
            return None
        self._written += 1
        skipped, self._skipped = self._skipped, 0
        return skipped

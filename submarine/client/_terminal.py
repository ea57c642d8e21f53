"""Pod output made safe to print on a terminal.

A replica writes what it likes to its log, and a log line printed raw can drive the
terminal that shows it: retitle the window (OSC), clear the screen, move the cursor over
earlier lines, or, on some terminals, write to the clipboard or files. What the client and
the CLI *print* goes through :func:`printable`; what they *return* keeps every byte.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["printable", "printable_lines"]

_SEQUENCE: Final = re.compile(
    r"""
      \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?      # OSC, to BEL or ST (or the end)
    | \x1b[PX^_].*?(?:\x1b\\|\x9c|$)                   # DCS, SOS, PM, APC strings
    | \x1b\[[0-?]*[\x20-/]*[@-~]?                       # CSI: colours, cursor, erase
    | \x1b[\x20-/]*[0-~]?                               # any other escape sequence
    | \x9d[^\x07\x9c]*(?:\x07|\x9c)?                    # 8-bit OSC
    | [\x90\x98\x9e\x9f].*?(?:\x9c|$)                   # 8-bit DCS, SOS, PM, APC
    | \x9b[0-?]*[\x20-/]*[@-~]?                         # 8-bit CSI
    | \r                                                # carriage returns: overwriting
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable(line: str) -> str:
    """``line`` without terminal control sequences, to print where a terminal may show it.

    Escape sequences (CSI, OSC, DCS and the others, 7- and 8-bit) and carriage returns are
    removed; any other control character but the tab is shown as ``\\xNN``, so nothing is
    hidden and nothing reaches the terminal as a command.

    >>> printable("\\x1b]0;title\\x07\\x1b[31mred\\x1b[0m\\r")
    'red'
    >>> printable("a\\bb\\tc")
    'a\\\\x08b\\tc'
    """
    if line.isprintable():
        return line
    return _CONTROL.sub(_shown, _SEQUENCE.sub("", line))


def printable_lines(text: str) -> str:
    """``text`` without terminal control sequences, its line breaks kept: each line as
    :func:`printable` shows it.

    >>> printable_lines("one\\x1b[2J\\ntwo\\r\\n")
    'one\\ntwo\\n'
    """
    if text.isprintable():
        return text
    return "\n".join(printable(line) for line in text.split("\n"))

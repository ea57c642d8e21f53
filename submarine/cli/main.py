"""The ``submarine`` command's entry points.

:func:`main` is the console script (``submarine``, and ``python -m submarine.cli``).
``entry_point`` is the same command as a Click command, where Submarine 0.8.0's tests find
it (``from submarine.cli import main; CliRunner().invoke(main.entry_point, [...])``); it is
built when first read.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer.core import TyperGroup

    entry_point: TyperGroup
    """The command as a Click group (built when first read)."""

__all__ = ["entry_point", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``submarine`` with ``argv`` (default: the process arguments) and exit."""
    # httpx imports its own command-line tool (rich, click, pygments: 60-70 ms) whenever
    # they are installed, as this extra installs them; this process never runs it, and
    # httpx falls back to a stub when it cannot be imported. Only our own process is
    # affected: a library user's httpx is left alone.
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from submarine.cli._app import run

    sys.exit(run(argv))


@functools.cache
def _entry_point() -> TyperGroup:
    import typer
    from typer.core import TyperGroup

    from submarine.cli._app import app

    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return command


def __getattr__(name: str) -> Any:
    """``entry_point``: the command as a Click group, built on first use (PEP 562)."""
    if name == "entry_point":
        return _entry_point()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The ``submarine`` command line: experiments from a terminal, and the local server.

Built with Typer (typed commands on click, shell completion for bash, zsh and fish via
``submarine --install-completion``) and Rich (tables and the live progress line).
Everything it does with a server goes through the public :class:`ExperimentClient`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


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

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
    from submarine.cli._app import run

    sys.exit(run(argv))

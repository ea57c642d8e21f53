"""Runs a replica's command so that it dies with the Ray actor that started it.

``python -m submarine.server.run.raybackend.orphan PARENT_PID PROGRAM [ARGS...]`` asks Linux to
kill this process when its parent (the actor's worker) dies (``PR_SET_PDEATHSIG``), then
becomes ``PROGRAM``. A node that leaves the cluster takes its actors, and so its replicas,
with it, instead of leaving them running. Elsewhere than Linux it just becomes ``PROGRAM``.

It runs before every replica's command, so it imports only what it needs of the standard
library: not Ray, not the server (its packages import nothing eagerly), and not even
:mod:`ctypes.util` unless the interpreter's own symbols lack ``prctl``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL:
    """The C library: the symbols the interpreter already has, else libc found by name."""
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "prctl"):
        return libc
    from ctypes.util import find_library

    return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


def _die_with_parent(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    _libc().prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(137)


def main(argv: list[str]) -> None:
    """Become ``argv[1:]`` after arranging to die with process ``argv[0]``."""
    if len(argv) < 2:
        sys.exit(
            "usage: python -m submarine.server.run.raybackend.orphan PARENT_PID PROGRAM [ARGS]",
        )
    _die_with_parent(int(argv[0]))
    try:
        os.execvp(argv[1], argv[1:])
    except OSError as exc:
        print(f"cannot start {argv[1]!r}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])

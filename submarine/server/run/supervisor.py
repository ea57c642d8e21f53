"""The supervisor of one replica: its parent, which outlives the server and records its exit.

A replica of the local backend is not a child of the server: the server starts this small
program, which starts the replica and waits for it. So the replica keeps a parent that
reaps it when the server stops (Ctrl-C, SIGTERM, a crash or an upgrade), and its exit code
is not lost: the supervisor writes it to the experiment's directory, and the server, or the
next start of the server on the same data dir, reads it there.

    python -I -S supervisor.py EXIT_FILE < ORDERS

``ORDERS`` is one JSON object on stdin: ``argv``, ``env``, ``cwd``, ``log`` (the pod's log,
opened for appending) and ``token`` (written back with the exit code, so a record left by
another life of the pod is never taken for this one's). The supervisor starts ``argv`` in a
session (and process group) of its own, stdin empty, stdout and stderr appended to ``log``,
and answers on stdout with one JSON line, ``{"pid": P}`` or, when the program cannot be
started, ``{"errno": E, "strerror": S, "filename": F}``; then it closes stdout. When the
replica ends, it writes ``{"code": C, "token": T}`` to ``EXIT_FILE`` (C negative: the
signal that killed it) atomically: a temporary file, flushed to disk, renamed over.

It ignores SIGINT and SIGHUP (the terminal's Ctrl-C and hang-up are the server's), and
passes SIGTERM on to the replica's process group. It runs with the standard library only
(``-I -S``: nothing of the user's environment or site-packages is imported), so it starts
fast and holds little memory; it is found by its path, which its command line shows
(:data:`MARKER`), and by ``EXIT_FILE``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from typing import Any

MARKER = "submarine-supervisor"
"""A word of the supervisor's command line, after its path: how a supervisor is told from
another process that has the same pid."""


def _answer(message: dict[str, Any]) -> None:
    """Write the one answer line to stdout, then let go of stdout (the server reads one
    line; a server that is gone must not make a later write fail)."""
    with contextlib.suppress(OSError):
        os.write(1, (json.dumps(message) + "\n").encode())
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _record(path: str, code: int, token: str) -> None:
    """Write the exit code to ``path`` atomically; nothing if the experiment's directory is
    gone (the experiment was deleted)."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps({"code": code, "token": token}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        print(f"[submarine] the replica's exit code was not recorded: {exc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Start the replica the orders on stdin describe, wait for it, record its exit code."""
    if len(argv) != 2 or argv[1] != MARKER:
        print("usage: python -I -S supervisor.py EXIT_FILE submarine-supervisor < ORDERS")
        return 2
    exit_path = argv[0]
    orders = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    log = os.open(orders["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        replica = subprocess.Popen(
            orders["argv"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=orders["cwd"],
            env=orders["env"],
            start_new_session=True,
        )
    except OSError as exc:
        _answer({"errno": exc.errno, "strerror": exc.strerror, "filename": exc.filename})
        return 0
    finally:
        os.close(log)

    def pass_on(signum: int, _: object) -> None:
        if replica.returncode is None:  # not reaped yet: its pid is still its own
            with contextlib.suppress(OSError):
                os.killpg(replica.pid, signum)

    signal.signal(signal.SIGTERM, pass_on)
    _answer({"pid": replica.pid})
    code = replica.wait()
    _record(exit_path, code, str(orders["token"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

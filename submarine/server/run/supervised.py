"""Replicas under a supervisor: started, found again after a restart, waited for, reaped.

Each replica of the local backend is started by a :mod:`~submarine.server.run.supervisor` of
its own, in a session of its own, not by the server: the supervisor is the replica's parent
and records its exit code in the experiment's directory (``exits/<pod>.json``). So a
replica outlives the server that started it, and whoever runs the server next learns how it
ended. :func:`launch` starts one; a :class:`LocalReplica` is the handle of one, made by the
server that started it (which also reaps the supervisor, its child) or again from its
:attr:`~LocalReplica.facts` by the next start of the server (:func:`find_again`): a pid is
taken for the replica's supervisor only when its creation time and its command line (the
supervisor's path, the pod's exit file) are the recorded ones, so a pid that the system
gave to another process since is never adopted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import psutil

from submarine.server.run import supervisor
from submarine.server.run.launcher import Facts, ReplicaLostError
from submarine.server.run.processes import creation_time, exit_text, same_process, wait_exit

__all__ = ["SUPERVISOR", "LocalReplica", "find_again", "launch", "read_exit"]

SUPERVISOR: Final = Path(supervisor.__file__).resolve()
"""The supervisor's program, run as ``python -I -S SUPERVISOR EXIT_FILE submarine-supervisor``."""
REAP_WAIT: Final = 10.0
"""Seconds a supervisor has to end once its replica's processes are stopped, before it is
killed."""


def read_exit(path: Path, token: str) -> int | None:
    """The exit code a supervisor recorded at ``path`` for the replica of ``token``; None
    when there is none (the replica runs, or its supervisor was lost) or it is another's."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("token") != token:
        return None
    code = record.get("code")
    return code if isinstance(code, int) else None


def launch(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    exit_path: Path,
    token: str,
) -> tuple[int, int]:
    """Start a supervisor that starts ``argv`` (in a session of its own, with exactly
    ``env``, in ``cwd``, stdout and stderr appended to ``log``); the pids of the supervisor,
    a child of this process (:func:`~submarine.server.run.processes.wait_exit` reaps it),
    and of the replica. Blocks until the replica started: call it from a worker thread.

    The supervisor is spawned without a ``subprocess.Popen`` of its own: a server that
    leaves it running has nothing of it to clean up.

    Raises ``OSError`` as starting ``argv`` raised it (not found, not executable), or
    saying that the supervisor ended before it could start it.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    orders = {"argv": list(argv), "env": dict(env), "cwd": str(cwd), "log": str(log)}
    orders["token"] = token
    command = [sys.executable, "-I", "-S", str(SUPERVISOR), str(exit_path), supervisor.MARKER]
    errors = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    orders_in, orders_out = os.pipe()
    answer_in, answer_out = os.pipe()
    try:
        pid = os.posix_spawn(
            sys.executable,
            command,
            {},  # the supervisor carries none of the replica's marks: it is no member
            file_actions=[
                (os.POSIX_SPAWN_DUP2, orders_in, 0),
                (os.POSIX_SPAWN_DUP2, answer_out, 1),
                (os.POSIX_SPAWN_DUP2, errors, 2),
            ],
            setsid=True,
        )
    except BaseException:
        for fd in (orders_out, answer_in):
            os.close(fd)
        raise
    finally:
        for fd in (errors, orders_in, answer_out):
            os.close(fd)
    with open(orders_out, "wb") as sink, contextlib.suppress(BrokenPipeError):
        sink.write(json.dumps(orders).encode())
    with open(answer_in, "rb") as source:
        line = source.readline()
    try:
        answer = json.loads(line)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("pid"), int):
        return pid, answer["pid"]
    code = _reap(pid)
    if isinstance(answer, dict) and isinstance(answer.get("errno"), int):
        raise OSError(answer["errno"], str(answer.get("strerror")), answer.get("filename"))
    raise OSError(
        f"its supervisor {exit_text(code)} before it started the replica (see the pod's log)"
    )


def _reap(pid: int) -> int:
    """Wait for child ``pid``; its return code (negative: the signal that killed it)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _is_supervisor(pid: int, created: float, exit_path: Path) -> bool:
    """Whether ``pid`` is the live supervisor started at ``created`` for ``exit_path``."""
    if not same_process(pid, created):
        return False
    try:
        tail = psutil.Process(pid).cmdline()[-3:]
    except psutil.Error:
        return False
    return (
        len(tail) == 3
        and Path(tail[0]).name == SUPERVISOR.name
        and os.path.realpath(tail[1]) == os.path.realpath(exit_path)
        and tail[2] == supervisor.MARKER
    )


class LocalReplica:
    """A replica that runs as a process group on this machine, under its supervisor.

    Args:
        name: its pod's name.
        pgid: its process group (the pid of the group's leader, the command).
        created: when the leader started (a recycled pid is not taken for it).
        supervisor: its supervisor's pid.
        supervisor_created: when its supervisor started.
        exit_path: where its supervisor records its exit code.
        token: what that record carries when it is this replica's.
        child: whether its supervisor is a child of this server (reaped here).
    """

    def __init__(
        self,
        name: str,
        pgid: int,
        created: float,
        *,
        supervisor: int,
        supervisor_created: float,
        exit_path: Path,
        token: str,
        child: bool = False,
    ) -> None:
        self.name = name
        self.pgid = pgid
        self.created = created
        self.supervisor = supervisor
        self.supervisor_created = supervisor_created
        self._exit_path = exit_path
        self._token = token
        self._child = child

    @classmethod
    def started(
        cls, name: str, supervisor: int, pid: int, exit_path: Path, token: str
    ) -> LocalReplica:
        """The replica whose supervisor this server just started (see :func:`launch`)."""
        return cls(
            name,
            pid,
            creation_time(pid),
            supervisor=supervisor,
            supervisor_created=creation_time(supervisor),
            exit_path=exit_path,
            token=token,
            child=True,
        )

    @property
    def facts(self) -> Facts:
        """The process group and its leader's creation time, the supervisor and its
        creation time, and the token of the exit record."""
        return {
            "pgid": self.pgid,
            "created": self.created,
            "supervisor": self.supervisor,
            "supervisor_created": self.supervisor_created,
            "token": self._token,
        }

    @property
    def exit_code(self) -> int | None:
        """The exit code, once the supervisor recorded it."""
        return read_exit(self._exit_path, self._token)

    async def wait(self) -> int:
        """The replica's exit code, once its supervisor has recorded it and ended."""
        await wait_exit(self.supervisor, self.supervisor_created, child=self._child)
        code = self.exit_code
        if code is None:
            raise ReplicaLostError(
                f"replica {self.name} was lost: its supervisor (pid {self.supervisor}) ended "
                "without recording its exit code"
            )
        return code

    async def reap(self) -> None:
        """Wait until the supervisor is gone (it ends right after the replica's leader);
        kill it if it has not after :data:`REAP_WAIT` seconds."""
        until_gone = wait_exit(self.supervisor, self.supervisor_created, child=self._child)
        try:
            await asyncio.wait_for(until_gone, REAP_WAIT)
        except asyncio.TimeoutError:
            if same_process(self.supervisor, self.supervisor_created):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.supervisor, signal.SIGKILL)
            await wait_exit(self.supervisor, self.supervisor_created, child=self._child)


async def find_again(name: str, facts: Facts, exit_path: Path) -> LocalReplica:
    """The replica of pod ``name`` that the recorded ``facts`` describe, started by an
    earlier start of the server: still running under its supervisor, or ended with its exit
    code recorded.

    Raises :class:`ReplicaLostError` when nothing tells its supervisor, or when the
    supervisor is gone without a record (a pid that belongs to another process now is not
    taken for it).
    """
    try:
        replica = LocalReplica(
            name,
            int(facts["pgid"]),
            float(facts["created"]),
            supervisor=int(facts["supervisor"]),
            supervisor_created=float(facts["supervisor_created"]),
            exit_path=exit_path,
            token=str(facts["token"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ReplicaLostError(
            f"replica {name} cannot be found again: nothing recorded tells its supervisor"
        ) from None
    if replica.exit_code is not None:
        return replica
    alive = await asyncio.to_thread(
        _is_supervisor, replica.supervisor, replica.supervisor_created, exit_path
    )
    if alive or replica.exit_code is not None:  # it may have just recorded and ended
        return replica
    raise ReplicaLostError(
        f"replica {name} was lost while the server was down: its supervisor (pid "
        f"{replica.supervisor}) is gone and recorded no exit code"
    )

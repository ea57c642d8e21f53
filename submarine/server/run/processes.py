"""Replica processes: find them all again, wait for them, stop them.

Every replica runs in a process group of its own (a new session), so stopping one signals
the whole group: SIGTERM, then SIGKILL after a grace period. A descendant that left its
group (a daemon: a fork, then ``setsid``) is still found, by environment variables every
replica passes on to its children (the *marks* of a :class:`ProcessFamily`).

Finding the processes means looking at every process of the machine (tens to hundreds of
milliseconds with a thousand processes), so :meth:`ProcessFamily.terminate` does it in a
worker thread, never on the event loop. :func:`wait_exit` waits for any process, a child of
the server or not, and :func:`same_process` and :func:`is_member` tell a process from another
that got its pid since.

>>> exit_text(3), exit_text(-9)
('exited with code 3', 'was killed by signal SIGKILL')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import psutil

__all__ = [
    "Members",
    "ProcessFamily",
    "child_environ",
    "creation_time",
    "exit_text",
    "free_ports",
    "is_member",
    "same_process",
    "wait_exit",
]

logger = logging.getLogger(__name__)

POLL: Final = 0.05
"""Seconds between looks at processes that are being stopped."""
KILL_WAIT: Final = 10.0
"""Seconds to wait for killed processes to disappear before giving up (and logging it)."""
EXIT_POLL: Final = 0.1
"""Seconds between looks at a process that is waited for, where no pidfd tells its end."""
TIME_SLACK: Final = 0.05
"""Tolerance when comparing process creation times (the kernel counts in ticks)."""
PRIVATE_PREFIX: Final = "SUBMARINE_"
"""Variables of the server's environment with this prefix are the server's own (its token,
its data dir, a client's password): no child process inherits them."""
_SECRET_IN_VALUE: Final = 8
"""Secrets at least this long are also looked for inside longer values."""


def child_environ(
    secrets: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The server's environment as its child processes (replicas, git) inherit it: without
    any ``SUBMARINE_*`` variable, and without any variable whose value is one of the
    server's ``secrets`` (or, for a secret of 8 characters or more, holds it).

    >>> child_environ(["s3cret-token"], {"SUBMARINE_TOKEN": "x", "A": "1", "B": "s3cret-token"})
    {'A': '1'}
    """
    env = os.environ if environ is None else environ
    hidden = [s for s in secrets if s]

    def leaks(value: str) -> bool:
        return any(value == s or (len(s) >= _SECRET_IN_VALUE and s in value) for s in hidden)

    return {
        name: value
        for name, value in env.items()
        if not name.upper().startswith(PRIVATE_PREFIX) and not leaks(value)
    }


def exit_text(code: int) -> str:
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def free_ports(host: str, count: int) -> list[int]:
    """``count`` different ports free on ``host`` now (each held open until all are found)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def creation_time(pid: int) -> float:
    """When process ``pid`` started (seconds since the epoch).

    For a process already gone, a moment ago: whatever it left behind is younger.
    """
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return time.time() - 1.0


def same_process(pid: int, created: float) -> bool:
    """Whether process ``pid`` is alive and is the one that started at ``created`` (a pid the
    system gave to another process since, or a zombie, is not)."""
    try:
        process = psutil.Process(pid)
        return (
            abs(process.create_time() - created) <= TIME_SLACK
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def is_member(pgid: int, created: float, marks: Iterable[tuple[str, str]]) -> bool:
    """Whether process ``pgid`` is alive, started at ``created``, leads its own process group
    and carries every one of ``marks`` in its environment: the leader of a replica's group,
    not another process that got its pid (or its creation time) since."""
    if not same_process(pgid, created):
        return False
    try:
        if os.getpgid(pgid) != pgid:
            return False
        environ = psutil.Process(pgid).environ()
    except (OSError, psutil.Error):
        return False
    return all(environ.get(key) == value for key, value in marks)


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when process ``pid`` ends (Linux 5.3 and
    later), or None where there is none."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


async def wait_exit(pid: int, created: float, *, child: bool = False) -> None:
    """Return once process ``pid``, which started at ``created``, has ended; a ``child`` of
    this process is reaped then.

    Any process can be waited for, not only a child of this one: where the system offers a
    pidfd the wait costs nothing until the process ends, else the process is looked at
    every :data:`EXIT_POLL` seconds.
    """

    def ended() -> bool:
        if child:
            try:
                return os.waitpid(pid, os.WNOHANG)[0] == pid
            except ChildProcessError:  # reaped already
                return True
        return not same_process(pid, created)

    descriptor = _pidfd(pid)
    try:
        # Looked at after the pidfd is opened: if the process is still the one started at
        # ``created`` now, the pidfd is that process's.
        if descriptor is not None and not ended():
            loop = asyncio.get_running_loop()
            gone: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not gone.done():
                    gone.set_result(None)

            loop.add_reader(descriptor, readable)
            try:
                await gone
            finally:
                loop.remove_reader(descriptor)
        while not ended():
            await asyncio.sleep(EXIT_POLL)
    finally:
        if descriptor is not None:
            os.close(descriptor)


@dataclass
class Members:
    """The live processes of a family at one moment (zombies not counted)."""

    groups: dict[int, list[int]] = field(default_factory=dict)
    """Live members of each process group, by pgid."""
    strays: set[int] = field(default_factory=set)
    """Pids of live processes that left their group but carry the family's marks."""

    def __len__(self) -> int:
        return len(self.strays) + sum(len(members) for members in self.groups.values())


@dataclass(frozen=True)
class ProcessFamily:
    """The processes of one experiment: its process groups, and daemons that carry its marks.

    >>> ProcessFamily(groups=(), marks=(("JOB_ID", "experiment-1-0001"),)).scan()
    Members(groups={}, strays=set())

    Args:
        groups: (pgid, creation time of the group's leader) of every group started.
        marks: environment variables (name, value) that every member inherited; a
            process that left its group counts as a member when it has them all.
    """

    groups: tuple[tuple[int, float], ...]
    marks: tuple[tuple[str, str], ...]

    def scan(self) -> Members:
        """The family's live processes now; slow (it looks at every process): call it off
        the event loop.

        A group is the family's when its leader is the process that was started (same
        creation time) or is gone; only processes created after the first leader count,
        so a recycled pid is never taken for a member.
        """
        if not self.groups:
            return Members()
        wanted: dict[int, float] = {}
        for pgid, created in self.groups:
            try:
                if abs(psutil.Process(pgid).create_time() - created) > TIME_SLACK:
                    continue  # the pid now belongs to another process: not our group
            except psutil.NoSuchProcess:
                pass
            except psutil.Error:
                continue
            wanted[pgid] = created
        since = min(created for _, created in self.groups) - TIME_SLACK
        found = Members()
        me = os.getpid()
        for proc in psutil.process_iter():
            try:
                if proc.pid == me or proc.create_time() < since:
                    continue
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                pgid = os.getpgid(proc.pid)
                if pgid in wanted and proc.create_time() >= wanted[pgid] - TIME_SLACK:
                    found.groups.setdefault(pgid, []).append(proc.pid)
                elif self.marks and self._marked(proc):
                    found.strays.add(proc.pid)
            except (OSError, psutil.Error):
                continue
        return found

    def _marked(self, proc: psutil.Process) -> bool:
        env = proc.environ()
        return all(env.get(key) == value for key, value in self.marks)

    @staticmethod
    def signal(members: Members, signum: int) -> None:
        """Send ``signum`` to whole groups and to single strays (gone ones are skipped)."""
        for pgid in members.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signum)
        for pid in members.strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    async def terminate(self, grace: float) -> int:
        """Stop the whole family: SIGTERM, SIGKILL to what is left after ``grace`` seconds,
        then wait until every member is gone. Returns how many processes were alive at first.
        """
        if not self.groups:
            return 0  # nothing was started: no need to look
        loop = asyncio.get_running_loop()
        members = await asyncio.to_thread(self.scan)
        count = len(members)
        if not count:
            return 0
        self.signal(members, signal.SIGTERM)
        deadline = loop.time() + grace
        while members and loop.time() < deadline:
            await asyncio.sleep(POLL)
            members = await asyncio.to_thread(self.scan)
        deadline = loop.time() + KILL_WAIT
        while members:
            self.signal(members, signal.SIGKILL)
            if loop.time() > deadline:
                logger.error(
                    "processes survive SIGKILL: groups %s, others %s",
                    members.groups,
                    members.strays,
                )
                break
            await asyncio.sleep(POLL)
            members = await asyncio.to_thread(self.scan)
        return count

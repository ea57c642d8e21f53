"""The Ray actor that runs one replica on its node.

One actor per replica, on the replica's bundle of the experiment's placement group, named
after the pod in the server's namespace. In order, the server calls

1. :meth:`Replica.address`: the node's id and address and a port found free there (held
   until the command starts), from which the server builds the framework's cluster;
2. :meth:`Replica.sync`: clone the git code on this node (experiments with git code only);
3. :meth:`Replica.start`: start the command in a process group of its own (in the code,
   if synced), stdout and stderr piped back;
4. :meth:`Replica.output`, again and again: the next bytes of output (waits for some), and
   the exit code once the command has ended and everything was read (:meth:`Replica.hold`
   has a waiting call answer at once, empty-handed, when the server stops listening: the
   actor outlives the server, keeps the output, and the next start calls again);
5. :meth:`Replica.stop`: stop the process group (SIGTERM, SIGKILL after the grace period)
   and any process carrying the experiment's marks, and delete the node's scratch files.

The command runs through :mod:`submarine.server.run.raybackend.orphan`, so it dies with the
actor's worker when the node goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import ray

from submarine.models import GitCodeSpec
from submarine.server.run import gitsync
from submarine.server.run.processes import ProcessFamily, child_environ, creation_time

__all__ = ["Replica"]

_CHUNK: Final = 1 << 16
_PYTHON_NAMES: Final = frozenset({"python", "python3"})
_RAY: Final[Any] = ray
"""Ray, for its calls that carry no type annotations."""


def _node_address(node_id: str) -> str:
    """The address the node joined the cluster with (``--node-ip-address``), which its
    peers reach it at."""
    for node in _RAY.nodes():
        if node.get("NodeID") == node_id and node.get("NodeManagerAddress"):
            return str(node["NodeManagerAddress"])
    return str(_RAY.util.get_node_ip_address())


class Replica:
    """Runs one replica's command on the node the actor was placed on.

    Args:
        pod: the pod's name (for scratch directory names).
        marks: environment variables (name, value) every process of the experiment has.
    """

    def __init__(self, pod: str, marks: list[tuple[str, str]]) -> None:
        self._pod = pod
        self._marks = tuple((str(k), str(v)) for k, v in marks)
        self._node_id: str = ray.get_runtime_context().get_node_id()
        self._host = _node_address(self._node_id)
        self._socket: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("", 0))
        self._port = int(self._socket.getsockname()[1])
        self._scratch = Path(tempfile.mkdtemp(prefix=f"submarine-{pod}-"))
        self._groups: list[tuple[int, float]] = []
        self._code: Path | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._buffer = bytearray()
        self._arrived: asyncio.Event | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._held = False

    def address(self) -> tuple[str, str, int]:
        """(Ray node id, node address, a port free on it for this replica)."""
        return self._node_id, self._host, self._port

    async def sync(self, git: dict[str, Any]) -> str | None:
        """Clone the code (``git``: the spec's ``code.git``) on this node, git running with
        this node's environment and the experiment's marks; None once cloned, else why it
        failed."""
        environ = child_environ((), os.environ)
        environ.update(self._marks)
        code = self._scratch / "code"
        try:
            await gitsync.clone(
                GitCodeSpec.model_validate(git),
                code,
                scratch=self._scratch / "git",
                on_spawn=self._record,
                environ=environ,
            )
        except gitsync.CloneError as exc:
            return str(exc)
        self._code = code
        return None

    async def start(self, argv: list[str], env: dict[str, str], workdir: str) -> str | None:
        """Start ``argv`` with this node's environment plus ``env``, in the synced code (or
        ``workdir`` if this node has it); None once started, else why it could not start."""
        environ = child_environ((), os.environ)
        environ.update(env)
        cwd = Path(workdir)
        if not cwd.is_dir():
            cwd = self._scratch
        if self._code is not None:
            environ["CODE_PATH"] = str(self._code)
            cwd = self._code
        if argv[0] in _PYTHON_NAMES:
            argv = [sys.executable, *argv[1:]]
        if self._socket is not None:
            self._socket.close()  # the port is the replica's from now on
            self._socket = None
        launcher = [
            sys.executable,
            "-m",
            "submarine.server.run.raybackend.orphan",
            str(os.getpid()),
        ]
        self._arrived = asyncio.Event()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *launcher,
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=cwd,
                env=environ,
                start_new_session=True,
            )
        except OSError as exc:
            return f"cannot start {argv[0]!r} on node {self._node_id}: {exc.strerror or exc}"
        self._record(self._proc.pid)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return None

    def _record(self, pid: int) -> None:
        self._groups.append((pid, creation_time(pid)))

    async def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        assert self._arrived is not None
        try:
            while chunk := await self._proc.stdout.read(_CHUNK):
                self._buffer.extend(chunk)
                self._arrived.set()
            await self._proc.wait()
        finally:
            self._arrived.set()

    async def output(self) -> tuple[bytes, int | None]:
        """The output not yet taken (waits until there is some or the command ended), and
        the exit code once the command ended and all its output was taken."""
        if self._arrived is None or self._reader is None or self._proc is None:
            return b"", None
        await self._arrived.wait()
        if self._stopping:
            return b"", None  # the output left goes to the answer of stop
        if self._held:
            self._held = False
            if not self._buffer and not self._reader.done():
                self._arrived.clear()
            return b"", None  # the caller stops listening: the output waits for the next
        self._arrived.clear()
        data = bytes(self._buffer)
        self._buffer.clear()
        if self._reader.done() and not data:
            return b"", self._proc.returncode
        if self._reader.done():
            self._arrived.set()  # the exit code comes with the next call
        return data, None

    def hold(self) -> None:
        """Have a waiting :meth:`output` call return at once, empty-handed (the server stops
        listening; the output is kept for its next start)."""
        self._held = True
        if self._arrived is not None:
            self._arrived.set()

    async def stop(self, grace: float) -> tuple[bytes, int | None]:
        """Stop every process of the replica (grace, then kill); the output not yet taken
        and the exit code (None if the command never started)."""
        self._stopping = True
        if self._arrived is not None:
            self._arrived.set()  # a pending output call returns empty-handed
        family = ProcessFamily(tuple(self._groups), self._marks)
        await family.terminate(grace)
        code: int | None = None
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            code = await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        data = bytes(self._buffer)
        self._buffer.clear()
        shutil.rmtree(self._scratch, ignore_errors=True)
        return data, code

"""The local backend's launcher: each replica a process group of this machine.

:class:`LocalLauncher` clones the code (``code.syncMode: git``) into the experiment's
``code/`` directory, gives every replica a free port on 127.0.0.1, and starts each command
under a supervisor of its own (:mod:`~submarine.server.run.supervised`) with the server's
environment less its secrets (no ``SUBMARINE_*`` variable, nothing holding the server's
token or password: :func:`~submarine.server.run.processes.child_environ`), then what the
job gives, then CODE_PATH and CUDA_VISIBLE_DEVICES. Every process group it starts (git's
too) is recorded in the experiment's state file at once. Releasing stops the whole family
(:func:`family_of`): the groups, and any process that carries the experiment's marks, such
as a daemon that left its group.

Replicas outlive the server: the next start on the same data dir finds them again
(:meth:`LocalLauncher.adopt`) and learns their exit codes from their supervisors.

A command whose program is ``python`` or ``python3`` runs with the server's own interpreter
(``sys.executable``): replicas run in the server's environment, whatever
``environment.image`` says (logged once per experiment). When the experiment's named
environment lists packages, they run in its virtual environment instead, made (or found
made) after the clone: :mod:`~submarine.server.run.pyenv`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from secrets import token_hex
from typing import Final

from submarine.models import ExperimentSpec
from submarine.server.run import gitsync, podlogs
from submarine.server.run.distributed import LOCALHOST
from submarine.server.run.job import marks_of
from submarine.server.run.launcher import Facts, LaunchError, Pod
from submarine.server.run.layout import JobLayout
from submarine.server.run.processes import (
    ProcessFamily,
    child_environ,
    creation_time,
    free_ports,
    is_member,
    same_process,
)
from submarine.server.run.pyenv import EnvironmentBuilder, InstallError, Kernel, PythonEnv
from submarine.server.run.supervised import LocalReplica, find_again, launch

__all__ = ["LocalLauncher", "family_of"]

logger = logging.getLogger(__name__)

_PYTHON_NAMES: Final = frozenset({"python", "python3"})
_CLONE_GROUP: Final = "git-clone"
_INSTALL_GROUP: Final = "environment-install"


def family_of(
    layout: JobLayout, experiment_id: str, groups: Iterable[tuple[int, float]]
) -> ProcessFamily:
    """The processes of an experiment: its process groups, and any process that carries
    its marks (:func:`~submarine.server.run.job.marks_of`), such as a daemon that left its
    group."""
    return ProcessFamily(tuple(groups), marks_of(layout, experiment_id))


class LocalLauncher:
    """One experiment's replicas as local process groups (see the module's docstring).

    Args:
        experiment_id: the experiment.
        spec: its spec.
        pods: its pods, in order (their names go to the state file).
        layout: where its files go.
        workdir: the working directory of replicas without synced code.
        grace: seconds between SIGTERM and SIGKILL.
        secrets: the server's own secrets (token, password), which no replica inherits.
        kernel: the packages of the experiment's named environment, installed in a
            virtual environment its replicas run in (made by ``builder``).
        builder: makes (or finds made) the virtual environments of kernels.
    """

    name = "this machine"

    def __init__(
        self,
        experiment_id: str,
        spec: ExperimentSpec,
        pods: Sequence[Pod],
        *,
        layout: JobLayout,
        workdir: Path,
        grace: float,
        secrets: Sequence[str] = (),
        kernel: Kernel | None = None,
        builder: EnvironmentBuilder | None = None,
    ) -> None:
        self._experiment_id = experiment_id
        self._spec = spec
        self._pods = [pod.name for pod in pods]
        self._logs = [pod.log for pod in pods]
        self._kernel = kernel
        self._builder = builder
        self._python_env: PythonEnv | None = None
        self._count = len(pods)
        self._layout = layout
        self._cwd = workdir
        self._grace = grace
        self._code_path: Path | None = None
        self._secrets = tuple(secrets)
        self._groups: dict[str, tuple[int, float]] = {}
        self._replicas: list[LocalReplica] = []
        self._adopting = False

    async def prepare(self, waiting: Callable[[str | None], None]) -> list[str]:
        """Clone the code, if any; a free port on 127.0.0.1 for each pod."""
        self._warn_image()
        code = self._spec.code
        if code is not None and code.git is not None:
            code_path = self._layout.code_dir(self._experiment_id)
            shutil.rmtree(code_path, ignore_errors=True)
            try:
                await gitsync.clone(
                    code.git,
                    code_path,
                    scratch=self._layout.scratch_dir(self._experiment_id),
                    on_spawn=lambda pid: self._record(_CLONE_GROUP, pid),
                    environ=child_environ(self._secrets),
                )
            except gitsync.CloneError as exc:
                raise LaunchError(str(exc)) from None
            await self._terminate()  # nothing of git's group may outlive the clone
            self._cwd = self._code_path = code_path
        if self._kernel is not None and self._builder is not None:
            try:
                self._python_env = await self._builder.prepare(
                    self._kernel,
                    environ=child_environ(self._secrets),
                    note=self._note,
                    on_spawn=lambda pid: self._record(_INSTALL_GROUP, pid),
                )
            except InstallError as exc:
                raise LaunchError(str(exc)) from None
            await self._terminate()  # nothing of an installer may outlive it
        return [f"{LOCALHOST}:{port}" for port in free_ports(LOCALHOST, self._count)]

    def _note(self, message: str) -> None:
        """Say something in every pod's log (and the server's)."""
        logger.info("experiment %s: %s", self._experiment_id, message)
        for log in self._logs:
            podlogs.append_reason(log, message)

    async def start(
        self, pod: Pod, argv: list[str], env: Mapping[str, str], *, command: str
    ) -> LocalReplica:
        """Spawn the replica's process group, its output appended to its log."""
        python_env = self._python_env
        if argv[0] in _PYTHON_NAMES:
            python = sys.executable if python_env is None else str(python_env.python)
            argv = [python, *argv[1:]]
        environ = child_environ(self._secrets)
        if python_env is not None:
            python_env.apply(environ)
        environ.update(env)
        if self._code_path is not None:
            environ["CODE_PATH"] = str(self._code_path)
        if pod.gpus:
            environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in pod.gpus)
        token = token_hex(8)
        exit_path = self._layout.exit_path(self._experiment_id, pod.name)
        try:
            supervisor, pid = await asyncio.to_thread(
                launch,
                argv,
                env=environ,
                cwd=self._cwd,
                log=pod.log,
                exit_path=exit_path,
                token=token,
            )
        except OSError as exc:
            raise LaunchError(_spawn_problem(pod, argv[0], command, exc), pod) from None
        replica = LocalReplica.started(pod.name, supervisor, pid, exit_path, token)
        self._record(pod.name, pid, replica.created)
        self._replicas.append(replica)
        return replica

    async def adopt(self, pod: Pod, facts: Facts) -> LocalReplica:
        """Find again a replica that an earlier start of the server launched (see
        :func:`~submarine.server.run.supervised.find_again`); the first call also takes
        over the process groups recorded for the experiment, but for any whose pid now
        names a process that does not carry the experiment's marks."""
        if not self._adopting:
            self._adopting = True
            state = self._layout.read_state(self._experiment_id)
            marks = marks_of(self._layout, self._experiment_id)

            def ours(pgid: int, created: float) -> bool:
                return is_member(pgid, created, marks) or not same_process(pgid, created)

            kept = await asyncio.to_thread(
                lambda: {name: (p, c) for name, p, c in state.groups if ours(p, c)}
            )
            self._groups.update(kept)
        exit_path = self._layout.exit_path(self._experiment_id, pod.name)
        replica = await find_again(pod.name, facts, exit_path)
        self._replicas.append(replica)
        return replica

    def placement(self) -> str:
        """Nothing to say: the replicas run here."""
        return ""

    async def release(self) -> None:
        """Stop every process group and marked process of the experiment (grace, then kill)
        and wait until the replicas' supervisors are gone."""
        await self._terminate()
        replicas, self._replicas = self._replicas, []
        for replica in replicas:
            await replica.reap()

    def _record(self, name: str, pid: int, created: float | None = None) -> None:
        """Remember a started process group, on disk at once (for recovery after a crash)."""
        self._groups[name] = (pid, creation_time(pid) if created is None else created)
        self._write_state()

    def _write_state(self) -> None:
        self._layout.write_state(self._experiment_id, self._pods, self._groups)

    async def _terminate(self) -> None:
        """Stop every recorded process group and marked process; forget the groups."""
        if not self._groups:
            return
        await family_of(self._layout, self._experiment_id, self._groups.values()).terminate(
            self._grace
        )
        self._groups.clear()
        if self._layout.exists(self._experiment_id):
            self._write_state()

    def _warn_image(self) -> None:
        environment = self._spec.environment
        images = {environment.image, environment.docker_image}
        images |= {task.image for task in self._spec.spec.values()}
        named = sorted(i for i in images if i)
        if named:
            logger.warning(
                "experiment %s asks for image %s: the local server runs replicas without "
                "containers, in its own Python environment (%s)",
                self._experiment_id,
                ", ".join(named),
                sys.executable,
            )


def _spawn_problem(pod: Pod, program: str, command: str, exc: OSError) -> str:
    """Why a replica could not start, for its log and the experiment's failure."""
    if isinstance(exc, FileNotFoundError) and exc.filename in (program, None):
        what = f"command {program!r} was not found (looked up on PATH, relative to its cwd)"
    elif isinstance(exc, PermissionError) and exc.filename in (program, None):
        what = f"command {program!r} is not executable"
    else:
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"cannot start replica {pod.name} ({command!r}): {what}"

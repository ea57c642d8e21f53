"""The Python environment of the replicas of an experiment that names a stored environment.

An experiment whose ``environment.name`` names an environment with a kernel runs its
replicas where the kernel's packages are installed: a virtual environment, made once for
each content of the kernel (its ``pipDependencies``, ``condaDependencies`` and ``channels``,
with the server's interpreter) under ``data_dir/environments/<key>/`` and reused by every
later experiment whose environment has the same content. Making it, or finding it made, is
said in each pod's log.

* The virtual environment (``venv``, no pip of its own) gets the pip packages from the
  server's pip (``pip --python <venv>``; from a pip of its own when the server has none).
  Then it is made to see everything the server's interpreter sees: a ``.pth`` file adds the
  server's site directories after its own (their ``.pth`` files too, so editable installs
  work), so ``import submarine`` works and an installed package wins over the server's
  copy of the same one.
* Conda packages go into a prefix of their own (``conda/``), made by ``micromamba`` or
  ``conda`` from the server's PATH; its ``bin`` comes on the replicas' PATH after the
  virtual environment's. Python stays the virtual environment's. Without either program,
  the experiment fails at start, saying so.

A ``python`` or ``python3`` command is the virtual environment's interpreter; PATH starts
with its ``bin`` and ``VIRTUAL_ENV`` names it. An environment is complete once its
``environment.json`` is written; a directory without one (a server stopped while making it)
is made again. Installing runs in a process group of its own, stopped with the experiment.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import site
import sys
import time
import venv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

__all__ = [
    "EnvironmentBuilder",
    "EnvironmentLookup",
    "InstallError",
    "Kernel",
    "PythonEnv",
    "conda_problem",
    "conda_program",
    "kernel_of",
]

DONE: Final = "environment.json"
"""Written last in an environment's directory: the environment is complete."""
PTH_NAME: Final = "_submarine_server_site.pth"
"""The file that makes the virtual environment see the server's site directories."""
OUTPUT_TAIL: Final = 20
"""Lines of an installer's output quoted when it fails."""


class InstallError(Exception):
    """An environment could not be made; the message says why (an installer's last lines)."""


class StoredEnvironment(Protocol):
    """What the runner reads of a stored environment."""

    @property
    def spec(self) -> dict[str, Any]:
        """The environment's spec in wire form."""


class EnvironmentLookup(Protocol):
    """Where the runner finds an environment by name (the environments' store)."""

    def get(self, name: str) -> StoredEnvironment | None:
        """The environment of this name, or None."""


@dataclass(frozen=True)
class Kernel:
    """The packages an experiment's environment asks for."""

    environment: str
    """The environment's name."""
    pip: tuple[str, ...] = ()
    """Pip packages."""
    conda: tuple[str, ...] = ()
    """Conda packages."""
    channels: tuple[str, ...] = ()
    """Conda channels."""

    @property
    def installs(self) -> bool:
        """Whether there is anything to install."""
        return bool(self.pip or self.conda)

    def key(self) -> str:
        """The name of its directory: a digest of what is installed, and with which Python."""
        content = {
            "pip": self.pip,
            "conda": self.conda,
            "channels": self.channels if self.conda else (),
            "python": sys.executable,
            "version": sys.version,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def kernel_of(name: str, spec: Mapping[str, Any]) -> Kernel:
    """The kernel of a stored environment's spec."""
    kernel = spec.get("kernelSpec")
    if not isinstance(kernel, Mapping):
        return Kernel(name)
    return Kernel(
        name,
        pip=_strings(kernel.get("pipDependencies")),
        conda=_strings(kernel.get("condaDependencies")),
        channels=_strings(kernel.get("channels")),
    )


def conda_program(environ: Mapping[str, str]) -> str | None:
    """``micromamba``, else ``conda``, as found on the PATH of ``environ``; None if neither."""
    path = environ.get("PATH", os.defpath)
    for name in ("micromamba", "conda"):
        found = shutil.which(name, path=path)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class PythonEnv:
    """A made environment: its interpreter and what goes first on the replicas' PATH."""

    root: Path
    """Its directory."""
    python: Path
    """The interpreter of ``python`` commands."""
    bin_dirs: tuple[Path, ...]
    """Put on PATH before the server's, in order."""

    def apply(self, environ: dict[str, str]) -> None:
        """Put the environment into a replica's ``environ``: PATH and VIRTUAL_ENV."""
        path = environ.get("PATH", os.defpath)
        environ["PATH"] = os.pathsep.join([*(str(d) for d in self.bin_dirs), path])
        environ["VIRTUAL_ENV"] = str(self.root / "venv")


def _server_site_dirs() -> list[str]:
    """The site directories the server's interpreter reads (its own and the user's)."""
    dirs = [d for d in site.getsitepackages() if d in sys.path]
    user = site.getusersitepackages()
    if site.ENABLE_USER_SITE and user in sys.path:
        dirs.append(user)
    return dirs


def _site_packages(venv_dir: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if sys.platform == "win32":  # pragma: no cover - the server runs on Linux and macOS
        return venv_dir / "Lib" / "site-packages"
    return venv_dir / "lib" / version / "site-packages"


class EnvironmentBuilder:
    """Makes environments under ``root`` (``data_dir/environments``), each once.

    Args:
        root: where environments are kept.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, asyncio.Lock] = {}

    def path_of(self, kernel: Kernel) -> Path:
        """Where the environment of ``kernel`` is (or will be) kept."""
        return self.root / kernel.key()

    async def prepare(
        self,
        kernel: Kernel,
        *,
        environ: Mapping[str, str],
        note: Callable[[str], None],
        on_spawn: Callable[[int], None] | None = None,
    ) -> PythonEnv:
        """The environment of ``kernel``, made now unless it was made before; ``note`` is
        told which, for the pod logs, and ``on_spawn`` the pid of every installer started
        (the leader of its process group). Cancelling stops the installer.

        Raises :class:`InstallError` when it cannot be made (the partial one is removed).
        """
        directory = self.path_of(kernel)
        bins = [directory / "venv" / "bin"]
        if kernel.conda:
            bins.append(directory / "conda" / "bin")
        made = PythonEnv(directory, directory / "venv" / "bin" / "python", tuple(bins))
        lock = self._locks.setdefault(directory.name, asyncio.Lock())
        async with lock:
            if (directory / DONE).is_file():
                note(
                    f"environment {kernel.environment!r}: using its virtual environment, made "
                    f"before for the same packages ({directory})"
                )
                return made
            what = _listing(kernel)
            note(
                f"environment {kernel.environment!r}: making a virtual environment with {what} "
                f"({directory}); later experiments with the same packages reuse it"
            )
            started = time.monotonic()
            await asyncio.to_thread(shutil.rmtree, directory, True)  # a partial one
            try:
                await self._make(kernel, directory, environ, on_spawn)
            except BaseException:
                await asyncio.shield(asyncio.to_thread(shutil.rmtree, directory, True))
                raise
            note(
                f"environment {kernel.environment!r}: virtual environment ready in "
                f"{time.monotonic() - started:.1f} s"
            )
            return made

    async def _make(
        self,
        kernel: Kernel,
        directory: Path,
        environ: Mapping[str, str],
        on_spawn: Callable[[int], None] | None,
    ) -> None:
        venv_dir = directory / "venv"
        directory.mkdir(parents=True, mode=0o700)
        builder = venv.EnvBuilder(symlinks=os.name != "nt", with_pip=False, clear=True)
        await asyncio.to_thread(builder.create, str(venv_dir))
        python = venv_dir / "bin" / "python"
        # Installers read no PYTHONPATH of the server's: what is installed depends on the
        # environment's content only (the replicas still get PYTHONPATH).
        quiet = {k: v for k, v in environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        if kernel.conda:
            program = conda_program(environ)
            if program is None:
                raise InstallError(_no_conda(kernel))
            channels = [f"--channel={channel}" for channel in kernel.channels]
            command = [program, "create", "--yes", "--prefix", str(directory / "conda")]
            await _run([*command, *channels, *kernel.conda], quiet, directory, on_spawn, "conda")
        if kernel.pip:
            if importlib.util.find_spec("pip") is not None:
                pip = [sys.executable, "-m", "pip", "--python", str(python)]
            else:
                await _run([str(python), "-m", "ensurepip"], quiet, directory, on_spawn, "pip")
                pip = [str(python), "-m", "pip"]
            flags = ["install", "--disable-pip-version-check", "--no-input", "--progress-bar=off"]
            await _run([*pip, *flags, *kernel.pip], quiet, directory, on_spawn, "pip")
        lines = [f"import site; site.addsitedir({d!r})" for d in _server_site_dirs()]
        (_site_packages(venv_dir) / PTH_NAME).write_text("\n".join(lines) + "\n")
        done = {"environment": kernel.environment, "pip": kernel.pip, "conda": kernel.conda}
        (directory / DONE).write_text(json.dumps(done, indent=2) + "\n")


def _listing(kernel: Kernel) -> str:
    parts = []
    if kernel.pip:
        parts.append("pip packages " + ", ".join(kernel.pip))
    if kernel.conda:
        parts.append("conda packages " + ", ".join(kernel.conda))
    return " and ".join(parts)


def _no_conda(kernel: Kernel) -> str:
    return (
        f"environment {kernel.environment!r} lists condaDependencies "
        f"({', '.join(kernel.conda)}): installing them needs micromamba or conda on the "
        "server's PATH, and neither is there; install one of them, or list the packages in "
        "pipDependencies instead"
    )


def conda_problem(kernel: Kernel, environ: Mapping[str, str]) -> str | None:
    """Why ``kernel``'s conda packages cannot be installed here (no conda program), or None."""
    if kernel.conda and conda_program(environ) is None:
        return _no_conda(kernel)
    return None


async def _run(
    argv: Sequence[str],
    environ: Mapping[str, str],
    cwd: Path,
    on_spawn: Callable[[int], None] | None,
    what: str,
) -> None:
    """Run an installer in a process group of its own, its output kept in ``cwd``; raise
    :class:`InstallError` with its last lines when it fails. Cancelling kills it."""
    log = cwd / f"{what}.log"
    with log.open("ab") as out:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                cwd=cwd,
                env=dict(environ),
                start_new_session=True,
            )
        except OSError as exc:
            raise InstallError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
        if on_spawn is not None:
            on_spawn(process.pid)
        try:
            code = await process.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.shield(process.wait())
            raise
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-OUTPUT_TAIL:]
        shown = "\n".join(tail)
        raise InstallError(f"{what} exited with code {code} while installing:\n{shown}")

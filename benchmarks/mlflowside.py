"""MLflow as a baseline: a virtualenv of its own and a local tracking server.

The venv (``<work>/mlflow-venv``) gets :data:`MLFLOW_PACKAGE` from PyPI with its
dependencies (about 0.9 GB: the server's Flask, SQLAlchemy and alembic come with pandas,
scikit-learn, pyarrow...), built on first use and reused while it imports MLflow. The server
is ``mlflow server`` bound to 127.0.0.1 on a free port, its backend a SQLite file in a
temporary directory of its own, everything else as MLflow sets it (4 worker processes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
from typing_extensions import Self

__all__ = [
    "MLFLOW_ENV",
    "MLFLOW_PACKAGE",
    "MlflowServer",
    "MlflowUnavailableError",
    "ensure_mlflow",
    "mlflow_version",
]

MLFLOW_PACKAGE = "mlflow==3.18.0"
"""The MLflow release measured (the latest on PyPI when the rows were added)."""

MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
"""What MLflow's processes run with here: no usage telemetry sent anywhere."""

_PROBE = "import mlflow, mlflow.server, sklearn"
START_TIMEOUT = 300.0
"""Seconds the server may take to answer ``/health`` (its 4 workers and the database's
migrations take most of a minute on 2 busy cores)."""


class MlflowUnavailableError(RuntimeError):
    """The MLflow venv could not be built or its server not started (the message says why)."""


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip_install(venv: Path) -> list[str]:
    return [str(_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def _works(venv: Path) -> bool:
    python = _python(venv)
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-I", "-c", _PROBE],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        check=False,
        timeout=300,
        env={**os.environ, **MLFLOW_ENV},
    )
    return probe.returncode == 0


def ensure_mlflow(work: Path) -> Path:
    """The python of ``work/mlflow-venv``, built with :data:`MLFLOW_PACKAGE` when it does not
    import MLflow yet; ``MlflowUnavailableError`` when pip fails."""
    venv = work / "mlflow-venv"
    if _works(venv):
        return _python(venv)
    work.mkdir(parents=True, exist_ok=True)
    for step, args in (
        ("venv", [sys.executable, "-m", "venv", "--clear", str(venv)]),
        (
            "pip install " + MLFLOW_PACKAGE,
            [*_pip_install(venv), MLFLOW_PACKAGE],
        ),
    ):
        done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=1800)
        if done.returncode != 0:
            raise MlflowUnavailableError(
                f"building the MLflow venv failed at {step} (exit {done.returncode}): "
                f"{(done.stderr or done.stdout)[-1500:]}"
            )
    if not _works(venv):
        raise MlflowUnavailableError(f"the MLflow venv at {venv} was built but cannot import it")
    return _python(venv)


def mlflow_version(python: Path) -> str:
    """The installed MLflow, like ``mlflow 3.18.0``."""
    done = subprocess.run(
        [str(python), "-I", "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return f"mlflow {done.stdout.strip() or '?'}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 over a SQLite file in a temporary directory; stopped
    (its whole process group) and the directory removed on exit."""

    def __init__(self, python: Path, log: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log: IO[bytes] = open(log, "wb")  # noqa: SIM115 (closed in stop)
        database = self.folder / "mlflow.db"
        self.process = subprocess.Popen(
            [
                *(str(python.parent / "mlflow"), "server", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--backend-store-uri", f"sqlite:///{database}"),
                *("--default-artifact-root", str(self.folder / "artifacts")),
            ],
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **MLFLOW_ENV},
            start_new_session=True,  # its workers are in its group: stopped together
        )
        try:
            self._wait_for_health()
        except BaseException:
            self.stop()
            raise

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        raise MlflowUnavailableError(
            f"mlflow server did not answer /health within {START_TIMEOUT:.0f} s (exit code "
            f"{self.process.poll()}); its output: {text[-2000:]}"
        )

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after 20 s)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # workers that outlived it
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""The upstream ``apache-submarine`` client, in a virtualenv of its own, as a baseline.

The package's declared dependencies include pandas, pyarrow, SQLAlchemy and more, none of
which its client and CLI import; it is installed with ``--no-deps`` plus what they do import
(read from ``submarine/__init__.py``, ``submarine/client/...`` and ``submarine/cli/...``).
The compatibility test of the server builds the same kind of venv at ``.upstream-venv/`` in
the repository root; it is reused when it can also run the upstream CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "UPSTREAM_PACKAGE",
    "UPSTREAM_RUNTIME",
    "UpstreamUnavailableError",
    "cli_config_path",
    "ensure_upstream",
    "upstream_version",
]

UPSTREAM_PACKAGE = "apache-submarine==0.8.0"
"""The upstream release measured (the latest on PyPI)."""

UPSTREAM_RUNTIME = (
    "six",
    "urllib3",
    "certifi",
    "python-dateutil",
    "boto3",  # submarine/__init__ imports tracking, which imports boto3
    "click",
    "rich",
    "dacite",
    "pyyaml",  # the CLI
)
"""The pure-Python packages that upstream's client and CLI modules import."""

_PROBE = "import submarine.client.api.experiment_client, submarine.cli.main"


class UpstreamUnavailableError(RuntimeError):
    """The upstream venv could not be built; the message says which step failed and why."""


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _works(venv: Path) -> bool:
    python = _python(venv)
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-I", "-c", _PROBE],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        check=False,
        timeout=120,
    )
    return probe.returncode == 0


def _run(step: str, args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise UpstreamUnavailableError(
            f"building the upstream venv failed at {step} (exit {done.returncode}): "
            f"{(done.stderr or done.stdout)[-1500:]}"
        )


def ensure_upstream(repo: Path, work: Path) -> Path:
    """The python of a venv with the upstream client and CLI: the shared one, else our own.

    Builds ``work/upstream-venv`` when neither works; ``UpstreamUnavailableError`` if pip fails.
    """
    shared = repo / ".upstream-venv"
    if _works(shared):
        return _python(shared)
    own = work / "upstream-venv"
    if _works(own):
        return _python(own)
    work.mkdir(parents=True, exist_ok=True)
    _run("venv", [sys.executable, "-m", "venv", "--clear", str(own)])
    pip = [str(_python(own)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run("pip install --no-deps " + UPSTREAM_PACKAGE, [*pip, "--no-deps", UPSTREAM_PACKAGE])
    _run("pip install of its runtime imports", [*pip, *UPSTREAM_RUNTIME])
    if not _works(own):
        raise UpstreamUnavailableError(
            f"the upstream venv at {own} was built but cannot import its client and CLI"
        )
    return _python(own)


def upstream_version(python: Path) -> str:
    """The installed upstream version, like ``apache-submarine 0.8.0``."""
    done = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            "from importlib.metadata import version; print(version('apache-submarine'))",
        ],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return f"apache-submarine {done.stdout.strip() or '?'}"


def cli_config_path(python: Path) -> Path:
    """Where the upstream CLI keeps its connection settings (inside its package)."""
    done = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            "import importlib.util, os; "
            "spec = importlib.util.find_spec('submarine'); "
            "print(os.path.join(os.path.dirname(spec.origin), 'cli', 'config', 'cli_config.yaml'))",
        ],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(done.stdout.strip())


def upstream_env() -> dict[str, str]:
    """The environment the upstream client and CLI run in: ours, minus Python overrides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}

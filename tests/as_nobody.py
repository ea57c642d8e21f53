"""Play another local user: run a standard-library Python script as ``nobody``.

The tests that reproduce attacks from another user of the machine need root to become
``nobody``; elsewhere they are skipped. The script gets an empty environment but ``PATH``,
runs from ``/`` and imports nothing of this repository (which ``nobody`` may not be able to
read).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from typing import Any

import pytest

__all__ = ["NOBODY", "needs_nobody", "nobody_command", "run_as_nobody", "start_as_nobody"]

try:
    _ENTRY = pwd.getpwnam("nobody")
except KeyError:
    _ENTRY = None

NOBODY = _ENTRY.pw_uid if _ENTRY else 65534
"""The uid the scripts run as."""
_GID = _ENTRY.pw_gid if _ENTRY else 65534

needs_nobody = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or _ENTRY is None,
    reason="playing another local user takes root (to become nobody) on Linux",
)
"""Skips a test unless this process can become ``nobody``."""


def nobody_command(code: str, *args: str) -> list[str]:
    """The command line that runs ``code`` (with ``args``) as ``nobody``."""
    python = [sys.executable, "-I", "-c", code, *args]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return python
    return [setpriv, f"--reuid={NOBODY}", f"--regid={_GID}", "--clear-groups", *python]


def _options() -> dict[str, Any]:
    options: dict[str, Any] = {"cwd": "/", "env": {"PATH": "/usr/bin:/bin"}, "text": True}
    if shutil.which("setpriv") is None:
        options.update(user=NOBODY, group=_GID, extra_groups=[])
    return options


def run_as_nobody(
    code: str, *args: str, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as ``nobody`` to the end; its output, captured."""
    return subprocess.run(
        nobody_command(code, *args), capture_output=True, timeout=timeout, check=False, **_options()
    )


def start_as_nobody(code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``code`` as ``nobody``, with pipes for its stdin and stdout."""
    return subprocess.Popen(
        nobody_command(code, *args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, **_options()
    )

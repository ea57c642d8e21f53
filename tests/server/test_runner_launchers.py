"""The launchers start fast: a Ray replica's launcher loads neither Ray nor the server's
heavy modules, and the local backend runs each command itself, with no launcher between.

What is checked is which modules a fresh interpreter loaded (a state), never how long it took
(``make bench`` measures that: benchmarks/bench_ray.py, 12.4)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test starts a fresh interpreter

LAUNCHER = "submarine.server.run.raybackend.orphan"
HEAVY = (
    "ray",
    "pydantic",
    "starlette",
    "uvicorn",
    "psutil",
    "asyncio",
    "argparse",
    "submarine.models",
    "submarine.server.settings",
)
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def loaded_by(statement: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after ``statement``."""
    code = (
        f"import sys\n{statement}\n"
        f"found = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "import json; print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    found: list[str] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize(
    "statement",
    [
        f"import {LAUNCHER}",
        "import submarine.server.run.raybackend",
        "import submarine.server",
        "from submarine.server import serve, ServerStartError",
    ],
)
def test_the_launcher_and_its_packages_load_nothing_heavy(statement: str) -> None:
    assert loaded_by(statement) == []


def test_the_settings_load_when_first_read() -> None:
    loaded = loaded_by("from submarine.server import Settings, SettingsError, settings_from_args")
    assert "submarine.server.settings" in loaded


def test_a_launched_command_runs_after_a_launcher_that_loaded_nothing_heavy() -> None:
    # As a replica's actor runs it: python -m LAUNCHER PARENT_PID PROGRAM ARGS, here with
    # the interpreter's list of what it imported on stderr.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", LAUNCHER, str(os.getpid()), "echo", "ran"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "ran\n"), done.stderr
    imported = re.findall(r"^import time:.*\|\s*(\S+)\s*$", done.stderr, re.MULTILINE)
    assert "submarine.server.run.raybackend" in imported  # the launcher's package, then it
    assert [m for m in imported if m.split(".")[0] in HEAVY or m in HEAVY] == []

"""`make demo`'s script: a local server, the parameter-server example through the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_succeeds_and_prints_the_accuracy() -> None:
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert "==> final status: Succeeded" in finished.stdout
    accuracy = re.search(r"^==> final accuracy: (\d\.\d+)$", finished.stdout, re.MULTILINE)
    assert accuracy is not None, output
    assert float(accuracy.group(1)) >= 0.85
    # The CLI followed the logs of all three replicas and said how it ended.
    for pod in ("ps-0", "worker-0", "worker-1"):
        assert f"[{pod}] " in finished.stdout
    assert re.search(r": Succeeded · \d+:\d\d · 3 replicas$", finished.stderr, re.MULTILINE)
    assert "==> server stopped" in finished.stdout
    assert elapsed < 120

"""`make demo`'s script: a local server, the parameter-server example through the CLI."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "examples" / "ps-digits.yaml"


def test_the_example_is_paced_to_be_watched_for_20_to_40_seconds() -> None:
    command = shlex.split(yaml.safe_load(SPEC.read_text())["meta"]["cmd"])
    steps = float(command[command.index("--steps") + 1])
    step_time = float(command[command.index("--step-time") + 1])
    log_every = float(command[command.index("--log-every") + 1])
    assert 20 <= steps * step_time <= 40
    assert steps / log_every >= 20  # a progress line of each worker every second or two


def test_the_demo_succeeds_and_prints_every_workers_accuracy() -> None:
    # Flat out (--step-time 0): what is checked is what is printed, not how long it takes.
    finished = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py"), "--step-time", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert "==> final status: Succeeded" in finished.stdout
    for worker in ("worker-0", "worker-1"):
        accuracy = re.search(
            rf"^==> {worker} final accuracy: (\d\.\d+)", finished.stdout, re.MULTILINE
        )
        assert accuracy is not None, output
        assert float(accuracy.group(1)) >= 0.85
    # The CLI printed the lines of all three replicas, each prefixed by its pod, and said
    # how it ended.
    lines = [line for line in finished.stdout.splitlines() if line.startswith("[")]
    for pod in ("ps-0", "worker-0", "worker-1"):
        assert any(line.startswith(f"[{pod}] ") for line in lines), output
    assert re.search(r"^\[worker-1\] step \d+ loss ", finished.stdout, re.MULTILINE)
    assert re.search(r": Succeeded · \d+:\d\d · 3 replicas$", finished.stderr, re.MULTILINE)
    assert "==> server stopped" in finished.stdout
    # Where to watch it: the workbench, and the experiment's page in it, each with the link's
    # token that signs the browser in.
    assert re.search(
        r"^==> watch it in the dashboard too: http://127\.0\.0\.1:\d+/\?token=[\w-]{43}$",
        finished.stdout,
        re.M,
    )
    assert re.search(
        r"^==> watch it in the workbench: http://\S+/\?token=[\w-]{43}"
        r"#/experiment/experiment-\d+-\d+$",
        finished.stdout,
        re.MULTILINE,
    )


def test_the_demo_shows_a_dashboard_only_when_the_server_names_one(tmp_path: Path) -> None:
    loaded = importlib.util.spec_from_file_location("demo", REPO / "examples" / "demo.py")
    assert loaded is not None
    assert loaded.loader is not None
    demo = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(demo)
    log = tmp_path / "server.log"
    log.write_text("INFO Submarine local server listening on http://127.0.0.1:41234\n")
    assert demo.dashboard_url(log) is None
    log.write_text(log.read_text() + "INFO dashboard on http://127.0.0.1:41234/ui\n")
    assert demo.dashboard_url(log) == "http://127.0.0.1:41234/ui"


def test_after_training_the_page_stays_up_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a terminal (CI, a pipe) the demo ends at once; on one it says how to stop and
    waits for Enter (here, a line already typed) or the minute."""
    loaded = importlib.util.spec_from_file_location("demo", REPO / "examples" / "demo.py")
    assert loaded is not None
    assert loaded.loader is not None
    demo = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(demo)
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as stdin, os.fdopen(write_end, "w") as typed:
        monkeypatch.setattr(sys, "stdin", stdin)
        demo.linger("http://127.0.0.1:8080/", seconds=3600)  # a pipe: no waiting at all
        assert capsys.readouterr().out == ""
        monkeypatch.setattr(stdin, "isatty", lambda: True)
        typed.write("\n")
        typed.flush()
        demo.linger("http://127.0.0.1:8080/", seconds=3600)  # Enter is waiting: no hour
    assert "press Enter to stop" in capsys.readouterr().out

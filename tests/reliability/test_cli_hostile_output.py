"""What a server sends reaches the terminal as text, never as control sequences.

Issue 20, "hostile values": ``experiment get`` and the tables printed commands, names,
statuses and messages from the server with their terminal escape sequences. Here a stub
server answers every command with names, commands, statuses, pod names, log lines and
error messages full of them (retitle the window, clear the screen, colour, 8-bit CSI,
NEL, DEL, carriage return): whatever the command and the format, the CLI's output holds
none of them raw; JSON and YAML keep them, escaped, so the data survives; the client
returns them unchanged. (The local server refuses control characters in names, so the
answers come from a stub.)
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from submarine.cli import _app
from submarine.client import ExperimentClient
from tests.stub_server import Request, StubServer, envelope_answer

from .conftest import Figures

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

EVIL = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\x9b2J\x85\x7f\r"
"""OSC retitle, clear screen, colour, 8-bit CSI, NEL, DEL, carriage return."""
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""A control character other than tab and newline, raw."""
ID = "experiment-1647192232698-0001"


def experiment(status: str = "Running", experiment_id: str = ID) -> dict[str, Any]:
    """An experiment payload with escape sequences in every string a table shows."""
    return {
        "experimentId": experiment_id,
        "uid": "3513233e-33f2-4399-8fba-2a44ca2af730",
        "status": status,
        "acceptedTime": "2022-03-14T16:03:10.000+08:00",
        "spec": {
            "meta": {
                "name": "mnist" + EVIL,
                "framework": "TensorFlow" + EVIL,
                "cmd": "python train.py" + EVIL,
                "envVars": {"KEY" + EVIL: "value" + EVIL},
            },
            "environment": {"image": "image" + EVIL},
            "spec": {"Worker" + EVIL: {"replicas": 1, "resources": "cpu=1" + EVIL, "cmd": EVIL}},
        },
    }


def log(experiment_id: str) -> dict[str, Any]:
    """A log whose pod names and lines are hostile."""
    pod = {"podName": f"{experiment_id}-worker-0" + EVIL, "podLog": ["line" + EVIL, EVIL]}
    return {"experimentId": experiment_id, "logContent": [pod]}


def hostile(request: Request, sock: socket.socket, stopped: threading.Event) -> bool:
    """Answers as a Submarine server would, but with EVIL in every string."""
    path = request.path
    if path.endswith("/ping"):
        envelope_answer("Pong", sock)
    elif path.endswith("/missing"):
        envelope_answer("Not found experiment." + EVIL, sock, status=404)
    elif path.endswith("/broken"):
        envelope_answer("database is locked" + EVIL, sock, status=500)
    elif "/logs/" in path:
        envelope_answer(log(path.rsplit("/", 1)[1]), sock)
    elif path.endswith("/finished"):
        envelope_answer(experiment("Succeeded", "finished"), sock)
    elif request.method == "GET" and path.rstrip("/").endswith("/experiment"):
        envelope_answer([experiment("Running" + EVIL)], sock)
    else:
        envelope_answer(experiment("Running" + EVIL), sock)
    return True


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer(hostile) as server:
        yield server


def run(stub: StubServer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_app.app, ["--host", stub.url, "experiment", *args])
    return result.exit_code, result.stdout + result.stderr


def assert_clean(output: str, figures: Figures, *, data: bool = False) -> None:
    """No raw control character; in text for people, no trace of the window title
    either (JSON and YAML keep it, escaped)."""
    assert RAW.search(output) is None, repr(output)
    assert data or "pwned" not in output, repr(output)
    figures.add("CLI outputs of hostile server strings with no raw control character")


def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    spec = {
        "meta": {"name": "mnist", "framework": "TensorFlow", "cmd": "python train.py"},
        "environment": {"image": "apache/submarine:tf-mnist"},
        "spec": {"Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"}},
    }
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("fmt", ["table", "json", "yaml"])
def test_get_list_create_patch_delete_print_no_control_sequence(
    stub: StubServer, tmp_path: Path, fmt: str, figures: Figures
) -> None:
    spec = str(spec_file(tmp_path))
    outputs = {}
    for args in (
        ["get", ID],
        ["list"],
        ["create", "-f", spec],
        ["patch", ID, "-f", spec],
        ["delete", ID],
    ):
        code, output = run(stub, *args, "-o", fmt)
        assert code == 0, output
        assert_clean(output, figures, data=fmt != "table")
        outputs[args[0]] = output
    if fmt == "table":
        # The text around the sequences is kept, in its cell.
        # (DEL and NEL shown as \xNN: nothing is hidden that is not a sequence.)
        assert re.search(r"^Name\s+mnist\\x85\\x7f$", outputs["get"], re.M), outputs["get"]
        assert re.search(r"^Command\s+python train\.py\\x85\\x7f$", outputs["get"], re.M)
        assert "Running" in outputs["list"]
    else:
        # The data itself is whole: every character, escaped.
        load = json.loads if fmt == "json" else yaml.safe_load
        got = load(outputs["get"])
        assert got["spec"]["meta"]["name"] == "mnist" + EVIL
        assert got["status"] == "Running" + EVIL
        assert load(outputs["list"])[0]["spec"]["meta"]["cmd"] == "python train.py" + EVIL


@pytest.mark.parametrize("fmt", [[], ["-o", "json"], ["-o", "yaml"]])
def test_logs_in_every_format_print_no_control_sequence(
    stub: StubServer, fmt: list[str], figures: Figures
) -> None:
    code, output = run(stub, "logs", ID, *fmt)
    assert code == 0, output
    assert_clean(output, figures, data=bool(fmt))
    assert "line" in output


def test_following_and_waiting_print_no_control_sequence(
    stub: StubServer, tmp_path: Path, figures: Figures
) -> None:
    for args in (
        ["logs", "finished", "--follow"],
        ["wait", "finished", "--follow", "-o", "table"],
        ["create", "-f", str(spec_file(tmp_path)), "--wait", "--timeout", "0.2"],
    ):
        code, output = run(stub, *args)
        assert code in (0, 2), output  # create --wait: still Running when its timeout ends
        assert_clean(output, figures)
    assert "[worker-0\\x85\\x7f] line\\x85\\x7f" in run(stub, "logs", "finished", "--follow")[1]


@pytest.mark.parametrize("target", ["missing", "broken"])
def test_error_messages_from_the_server_print_no_control_sequence(
    stub: StubServer, target: str, figures: Figures
) -> None:
    code, output = run(stub, "get", target)
    assert code == 1
    assert_clean(output, figures)
    assert "error:" in output


def test_the_client_returns_what_the_server_sent(stub: StubServer) -> None:
    with ExperimentClient(stub.url) as client:
        got = client.get_experiment(ID)
        lines = client.get_log(ID, stream=io.StringIO()).pods[0].lines
    assert got.spec is not None
    assert got.spec.meta.name == "mnist" + EVIL
    assert got.status_name == "Running" + EVIL
    assert lines == ["line" + EVIL, EVIL]

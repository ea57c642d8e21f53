"""The CLI's output layer: what it writes for people has no control sequence but its own
styles, and what it writes as data keeps every character, each control escaped.

The commands against a server that sends such strings are in
``tests/reliability/test_cli_hostile_output.py``.
"""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml

from submarine.cli._errors import ExitCode, describe, report
from submarine.cli._output import OutputFormat, dump, show
from submarine.cli._tables import SafeConsole, experiment_table, experiments_table
from submarine.client import DeadlineExceededError, ResponseTooLargeError
from submarine.models import Experiment

EVIL = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\x9b2J\x85\x7f\r"
"""OSC retitle, clear screen, colour, 8-bit CSI, NEL, DEL, carriage return."""
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""A control character other than tab and newline, raw."""
STYLES = re.compile(r"\x1b\[[0-9;]*m")
"""Rich's own styles (SGR)."""


def hostile_experiment() -> Experiment:
    """An experiment with escape sequences in every string a table shows."""
    return Experiment.model_validate(
        {
            "experimentId": "experiment-1647192232698-0001",
            "status": "Failed" + EVIL,
            "acceptedTime": "2022-03-14T16:03:10.000+08:00",
            "spec": {
                "meta": {"name": "mnist" + EVIL, "framework": "TensorFlow", "cmd": "x" + EVIL},
                "environment": {"image": "image" + EVIL},
                "spec": {"Worker" + EVIL: {"replicas": 1, "resources": "cpu=1" + EVIL}},
            },
        }
    )


# -- the output layer itself, on a terminal ---------------------------------------------------


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_tables_on_a_terminal_keep_their_styles_and_drop_the_servers() -> None:
    hostile = hostile_experiment()
    screen = Terminal()
    console = SafeConsole(file=screen, color_system="truecolor", width=200)
    console.print(experiments_table([hostile]))
    console.print(experiment_table(hostile))
    drawn = screen.getvalue()
    sequences = set(STYLES.findall(drawn))
    assert sequences, "no style at all: not drawn as on a terminal"
    # Only SGR styles (Rich's own bold header and status colour) are left.
    assert RAW.search(STYLES.sub("", drawn)) is None, repr(drawn)
    assert "\x1b[2J" not in drawn
    assert "\x1b[31m" not in drawn.replace("\x1b[1;31m", "")  # the server's red, not Rich's


def test_an_error_on_a_terminal_is_red_without_the_servers_sequences(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    report("the server at http://x answered: Not found" + EVIL)
    written = screen.getvalue()
    assert "\x1b[" in written  # Rich's red "error:"
    assert RAW.search(STYLES.sub("", written)) is None, repr(written)


def test_show_and_dump_escape_or_drop_every_control() -> None:
    screen = io.StringIO()
    show("a" + EVIL + "\nb\tc\n", screen)
    assert screen.getvalue() == "a\\x85\\x7f\nb\tc\n"
    # (YAML quotes a string with ESC in it anyway; one with only NEL or an 8-bit CSI, not.)
    data = {"key" + EVIL: ["value" + EVIL, "next\x85line", "csi\x9b2J"]}
    for fmt in (OutputFormat.JSON, OutputFormat.YAML):
        text = dump(data, fmt)
        assert RAW.search(text) is None, repr(text)
        load = json.loads if fmt is OutputFormat.JSON else yaml.safe_load
        assert load(text) == data


# -- a server that never finishes, or answers too much ----------------------------------------


def test_the_client_limits_are_one_line_each_that_names_them() -> None:
    deadline = DeadlineExceededError(185.0, method="GET", url="http://127.0.0.1:8080/api/v1/x")
    message, code = describe(deadline, "http://127.0.0.1:8080")
    assert code == ExitCode.UNREACHABLE
    assert message.startswith("the server at http://127.0.0.1:8080 did not finish answering GET")
    assert "185 s" in message
    too_large = ResponseTooLargeError(256 << 20, method="GET", path="/api/v1/experiment")
    message, code = describe(too_large, "http://127.0.0.1:8080")
    assert code == ExitCode.FAILED
    assert "GET /api/v1/experiment with more than 268435456 bytes" in message

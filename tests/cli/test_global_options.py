"""--host and --token may follow an experiment command, as users tend to type them."""

from __future__ import annotations

import pytest

from submarine.cli._app import hoist_globals


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["experiment", "list", "--host", "h"], ["--host", "h", "experiment", "list"]),
        (
            ["experiment", "get", "ID", "--token=t", "-o", "json"],
            ["--token=t", "experiment", "get", "ID", "-o", "json"],
        ),
        (["--host", "a", "experiment", "list"], ["--host", "a", "experiment", "list"]),
        (["server", "--host", "0.0.0.0"], ["server", "--host", "0.0.0.0"]),
        (["experiment", "list", "--host"], ["experiment", "list", "--host"]),
        (["experiment", "logs", "--", "--host"], ["experiment", "logs", "--", "--host"]),
    ],
)
def test_hoist_globals(given: list[str], expected: list[str]) -> None:
    assert hoist_globals(given) == expected


def test_host_after_the_command_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    from submarine.cli._app import run

    code = run(["experiment", "list", "--host", "http://127.0.0.1:9"])
    assert code == 4
    assert "http://127.0.0.1:9" in capsys.readouterr().err

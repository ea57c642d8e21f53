"""The installed ``submarine`` console script: exit codes, the server command, tokens,
shell completion."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from submarine.client import ExperimentClient
from tests.conftest import ServerFactory
from tests.support import gated_cmd, make_spec, wait_until

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).with_name("submarine")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBMARINE_")}
    return {**env, **extra}


def submarine(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or clean_env(),
        check=False,
    )


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: pip install -e '.[cli]'"


def test_exit_codes_of_the_real_command(server_url: str) -> None:
    listed = submarine("--host", server_url, "experiment", "list")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert isinstance(json.loads(listed.stdout), list)  # a pipe gets JSON

    usage = submarine("experiment", "create")
    assert usage.returncode == 3
    assert usage.stderr.splitlines() == [
        "error: Missing option '-f' / '--file'. (see `submarine experiment create --help`)"
    ]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = clean_env(SUBMARINE_SERVER_DNS_NAME="127.0.0.1", SUBMARINE_SERVER_PORT=str(port))
    unreachable = submarine("experiment", "get", "experiment-1-0001", env=env)
    assert unreachable.returncode == 4
    assert unreachable.stdout == ""
    assert unreachable.stderr.splitlines() == [
        f"error: cannot reach the Submarine server at http://127.0.0.1:{port} ([Errno 111] "
        "Connection refused): start a local one with `submarine server`, or point --host "
        "(or SUBMARINE_HOST) at yours"
    ]
    assert "Traceback" not in unreachable.stderr


def test_a_token_from_the_option_or_the_environment(server_factory: ServerFactory) -> None:
    server = server_factory.start("--token", "s3cret-of-the-cli-test")
    refused = submarine("--host", server.url, "experiment", "list")
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: the server at {server.url} refused the request: ")
    assert refused.stderr.rstrip().endswith("pass --token or set SUBMARINE_TOKEN")
    assert len(refused.stderr.splitlines()) == 1

    by_option = submarine(
        "--host", server.url, "--token", "s3cret-of-the-cli-test", "experiment", "list"
    )
    assert by_option.returncode == 0
    env = clean_env(SUBMARINE_HOST=server.url, SUBMARINE_TOKEN="s3cret-of-the-cli-test")
    by_env = submarine("experiment", "list", "-o", "yaml", env=env)
    assert (by_env.returncode, by_env.stdout) == (0, "[]\n")


def test_the_server_command_serves_until_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(SCRIPT), "server", "--port", "0", "--data-dir", str(tmp_path / "data")],
            stdout=sink,
            stderr=sink,
            cwd=tmp_path,
            env=clean_env(),
        )
    try:
        match = wait_until(
            lambda: (
                process.poll() is not None
                or re.search(r"listening on (http://\S+)", log.read_text())
            ),
            what="the server's listening line",
        )
        assert isinstance(match, re.Match), log.read_text()
        url = match.group(1)
        assert url.startswith("http://127.0.0.1:")
        spec = str(EXAMPLES / "ps-digits.yaml")
        created = submarine("--host", url, "experiment", "create", "-f", spec, "-o", "json")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["spec"]["meta"]["name"] == "ps-digits"
        assert (tmp_path / "data").is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert submarine("--host", url, "experiment", "list").returncode == 4


def test_the_server_command_refuses_an_open_bind_without_a_token(tmp_path: Path) -> None:
    refused = submarine("server", "--host", "0.0.0.0", "--data-dir", str(tmp_path))
    assert refused.returncode == 3
    assert refused.stderr.startswith("error: refusing to listen on 0.0.0.0: ")
    assert len(refused.stderr.splitlines()) == 1


def test_shell_completion_completes_commands_and_statuses() -> None:
    def complete(words: str) -> list[str]:
        env = clean_env(
            _SUBMARINE_COMPLETE="complete_bash",
            COMP_WORDS=words,
            COMP_CWORD=str(len(words.split()) - 1),
        )
        done = submarine(env=env)
        assert done.returncode == 0
        return done.stdout.split()

    assert complete("submarine experiment li") == ["list"]
    assert complete("submarine experiment list --status Su") == ["Succeeded"]
    # The script `--install-completion` writes; asked for by name, since
    # `--show-completion` guesses the shell from the parent process, which
    # is `sh` under make.
    shown = submarine(env=clean_env(_SUBMARINE_COMPLETE="source_bash"))
    assert shown.returncode == 0
    assert "_SUBMARINE_COMPLETE=complete_bash" in shown.stdout


def test_logs_follow_prints_each_pods_lines_as_they_are_written(
    server_url: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    with ExperimentClient(server_url) as client:
        created = client.create_experiment(make_spec(roles={"Worker": 2}, cmd=gated_cmd(gate)))
    command = [str(SCRIPT), "--host", server_url, "experiment", "logs", created.experiment_id]
    command += ["--follow", "--interval", "0.5"]
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env()
    ) as follower:
        assert follower.stdout is not None
        assert follower.stderr is not None
        out = follower.stdout
        reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in out])
        reader.start()
        try:
            # Both replicas wait at the gate: their first lines came while they still run.
            seen = {lines.get(timeout=60) for _ in range(2)}
            assert seen == {"[worker-0] ready", "[worker-1] ready"}
            assert follower.poll() is None
            gate.touch()
            assert follower.wait(60) == 0
        finally:
            gate.touch()
            if follower.poll() is None:
                follower.kill()
            reader.join(30)
        progress = follower.stderr.read()
    rest = sorted(lines.get() for _ in range(lines.qsize()))
    assert rest == ["[worker-0] done", "[worker-1] done"]
    # Not a terminal: progress went to standard error as lines, the last one Succeeded.
    assert re.search(r": Succeeded · \d+:\d\d · 2 replicas$", progress), progress

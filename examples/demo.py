"""``make demo``: a real distributed training experiment on a local Submarine server.

1. Start the local server (``python -m submarine.server``) on a free port with a fresh data
   directory, and read the URL it listens on from its ``listening on ...`` line.
2. Submit the parameter-server example (``examples/ps-digits.yaml``: Ps + 2 Workers) with the
   CLI: ``submarine experiment create -f examples/ps-digits.yaml --wait --follow``, which shows
   the replicas' log lines and, on a terminal, a live progress line.
3. Print the final status and the chief worker's ``final accuracy: ...`` line.
4. Stop the server, whatever happened (an error, Ctrl-C).

Exits 0 only if the experiment Succeeded. Run it from anywhere: paths are the repo's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "ps-digits.yaml"
LISTENING = re.compile(r"listening on (https?://\S+)")
ACCURACY = re.compile(r"final accuracy: \S+")
START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 100.0
STOP_TIMEOUT_S = 10.0


def say(text: str) -> None:
    """A line of the demo's own, set apart from what the CLI prints."""
    bold = sys.stdout.isatty()
    print(f"\033[1m==> {text}\033[0m" if bold else f"==> {text}", flush=True)


def cli_command() -> list[str]:
    """The ``submarine`` console script next to this interpreter, else ``-m submarine.cli``."""
    script = Path(sys.executable).with_name("submarine")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "submarine.cli"]


def wait_for_url(server: subprocess.Popen[bytes], log: Path) -> str:
    """The URL from the server's ``listening on`` line, once it has written it."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
        if server.poll() is not None:
            raise RuntimeError(
                f"the server exited with status {server.returncode} before listening:\n"
                + log.read_text(encoding="utf-8", errors="replace")
            )
        time.sleep(0.05)
    raise RuntimeError(f"the server did not say where it listens within {START_TIMEOUT_S:g} s")


@contextlib.contextmanager
def local_server(data_dir: Path) -> Iterator[str]:
    """Run the local server for the duration of the block; yield its URL."""
    log = data_dir / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "submarine.server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(data_dir / "data"),
            ],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = wait_for_url(server, log)
        say(f"local Submarine server listening on {url} (data in {data_dir})")
        yield url
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        say("server stopped")


def final_report(url: str) -> tuple[str, str | None]:
    """The experiment's final status and the chief's accuracy line, asked of the server."""
    from submarine.client import ExperimentClient

    with ExperimentClient(url) as client, open(os.devnull, "w") as devnull:
        experiments = client.list_experiments()
        if not experiments:
            return "missing", None
        experiment = experiments[-1]
        log = client.get_log(experiment.experiment_id, stream=devnull)
    accuracy = None
    for pod in log.pods:
        for line in pod.lines:
            match = ACCURACY.search(line)
            if match:
                accuracy = match.group(0)
    return experiment.status_name, accuracy


def main() -> int:
    """Run the demo; 0 only if the experiment Succeeded."""
    started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="submarine-demo-"))
    try:
        with local_server(data_dir) as url:
            command = [*cli_command(), "--host", url, "experiment", "create", "-f", str(SPEC)]
            command += [
                "--wait",
                "--follow",
                "--interval",
                "0.5",
                "--timeout",
                f"{RUN_TIMEOUT_S:g}",
            ]
            say("submarine " + " ".join(command[command.index("--host") :]).replace(str(ROOT), "."))
            cli = subprocess.run(command, cwd=ROOT, check=False)
            status, accuracy = final_report(url)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception as exc:  # one line, not a traceback, for a demo
        say(f"the demo failed: {exc}")
        return 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    say(f"final status: {status}")
    say(accuracy or "no 'final accuracy' line in the chief worker's log")
    say(f"demo finished in {time.monotonic() - started:.1f} s (the CLI exited {cli.returncode})")
    return 0 if status == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())

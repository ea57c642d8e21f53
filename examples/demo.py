"""``make demo``: a real distributed training experiment on a local Submarine server.

1. Start the local server (``python -m submarine.server``) on a free port with a fresh data
   directory, and read the URL it listens on from its ``listening on ...`` line (and the
   dashboard's URL, from a ``dashboard on ...`` line, when the server has one).
2. Submit the parameter-server example (``examples/ps-digits.yaml``: Ps + 2 Workers, paced
   to train for about 30 s) with the CLI:
   ``submarine experiment create -f examples/ps-digits.yaml --follow``, which prints the
   replicas' log lines as they are written, interleaved and prefixed by pod, above a live
   status line.
   Once the experiment exists, print its page in the workbench (``<server>/#/experiment/<id>``,
   with the ``?token=`` of the server's link, which signs the browser in), where its loss and
   accuracy curves, one per worker, grow while it trains. The client and the CLI find the
   server's token by themselves (it leaves it for its own user): none is typed.
3. Print the final status and every worker's ``final accuracy``.
4. Stop the server, whatever happened (an error, Ctrl-C).

``--step-time SECONDS`` overrides the pace of the training steps (0: flat out, ~3 s).
Exits 0 only if the experiment Succeeded. Run it from anywhere: paths are the repo's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from submarine.client import ExperimentClient, SubmarineError

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "ps-digits.yaml"
LISTENING = re.compile(r"listening on (https?://\S+)")
LINGER_S = 60.0
"""How long the page stays up after training, on a terminal, unless Enter is pressed."""
DASHBOARD = re.compile(r"(?:dashboard|workbench) (?:on|at) (https?://\S+)")
ACCURACY = re.compile(r"final accuracy: (\S+)")
STEP_TIME = re.compile(r"--step-time \S+")
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


def dashboard_url(log: Path) -> str | None:
    """The URL of the server's dashboard, if its log names one (the local server says
    ``workbench at URL``)."""
    match = DASHBOARD.search(log.read_text(encoding="utf-8", errors="replace"))
    return match.group(1) if match else None


@contextlib.contextmanager
def local_server(data_dir: Path) -> Iterator[tuple[str, str]]:
    """Run the local server for the duration of the block; yield its URL and the link of its
    page (which signs the browser in)."""
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
        dashboard = dashboard_url(log)
        if dashboard is not None:
            say(f"watch it in the dashboard too: {dashboard}")
        yield url, dashboard or f"{url}/"
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        say("server stopped")


def announce_workbench(url: str, page: str, stop: threading.Event) -> None:
    """Print the workbench page of the first experiment (below ``page``, the server's link),
    as soon as the server has it."""
    with ExperimentClient(url, max_retries=0) as client:
        while not stop.wait(0.2):
            try:
                experiments = client.list_experiments()
            except SubmarineError:
                continue
            if experiments:
                # On a line of its own: the CLI's status line may be on the screen, unended.
                if sys.stdout.isatty():
                    print(flush=True)
                say(f"watch it in the workbench: {page}#/experiment/{experiments[0].experiment_id}")
                return


def paced_spec(step_time: float | None, data_dir: Path) -> Path:
    """The example's spec; with ``step_time``, a copy whose steps take that long instead."""
    if step_time is None:
        return SPEC
    text = SPEC.read_text(encoding="utf-8")
    if not STEP_TIME.search(text):
        raise RuntimeError(f"{SPEC} has no --step-time in its command to override")
    copy = data_dir / SPEC.name
    copy.write_text(STEP_TIME.sub(f"--step-time {step_time:g}", text), encoding="utf-8")
    return copy


def final_report(url: str) -> tuple[str, dict[str, str]]:
    """The experiment's final status and each worker's final accuracy, asked of the server."""
    with ExperimentClient(url) as client, open(os.devnull, "w") as devnull:
        experiments = client.list_experiments()
        if not experiments:
            return "missing", {}
        experiment = experiments[-1]
        log = client.get_log(experiment.experiment_id, stream=devnull)
    accuracies: dict[str, str] = {}
    for pod in log.pods:
        for line in pod.lines:
            match = ACCURACY.search(line)
            if match:
                accuracies[pod.pod_name.removeprefix(f"{experiment.experiment_id}-")] = match[1]
    return experiment.status_name, accuracies


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The demo's command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--step-time",
        type=float,
        default=None,
        help="seconds each training step takes (default: the example's pace, ~30 s in all)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 only if the experiment Succeeded."""
    args = parse_args(argv)
    started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="submarine-demo-"))
    try:
        spec = paced_spec(args.step_time, data_dir)
        with local_server(data_dir) as (url, page):
            command = [*cli_command(), "--host", url, "experiment", "create", "-f", str(spec)]
            command += ["--follow", "--timeout", f"{RUN_TIMEOUT_S:g}"]
            shown = " ".join(command[command.index("--host") :])
            say("submarine " + shown.replace(str(ROOT), ".").replace(str(data_dir), "<tmp>"))
            stop = threading.Event()
            watcher = threading.Thread(
                target=announce_workbench, args=(url, page, stop), daemon=True
            )
            watcher.start()
            try:
                cli = subprocess.run(command, cwd=ROOT, check=False)
            finally:
                stop.set()
                watcher.join()
            status, accuracies = final_report(url)
            report(status, accuracies, started, cli.returncode)
            linger(page)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception as exc:  # one line, not a traceback, for a demo
        say(f"the demo failed: {exc}")
        return 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if status == "Succeeded" else 1


def report(status: str, accuracies: dict[str, str], started: float, cli_code: int) -> None:
    """The experiment's final status and each worker's accuracy."""
    say(f"final status: {status}")
    if not accuracies:
        say("no worker printed a 'final accuracy' line")
    for pod, value in sorted(accuracies.items()):
        chief = (
            " (the chief: the final model, once every worker was done)" if pod == "worker-0" else ""
        )
        say(f"{pod} final accuracy: {value}{chief}")
    say(f"demo finished in {time.monotonic() - started:.1f} s (the CLI exited {cli_code})")


def linger(page: str, seconds: float = LINGER_S) -> None:
    """On a terminal, keep the server (and its page) up until Enter, or for ``seconds``;
    without one (CI, a pipe) go on at once."""
    if not sys.stdin.isatty():
        return
    say(f"the workbench stays up at {page} : press Enter to stop (it stops in a minute)")
    select.select([sys.stdin], [], [], seconds)


if __name__ == "__main__":
    sys.exit(main())

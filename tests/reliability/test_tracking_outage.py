"""Tracking never breaks training (issue 20, "Tracking that never breaks training").

Before: during a tracking outage ``log_metric`` raised in the training loop again and again,
and a tracking server that accepted the connection and dripped its answer kept the training
process from ever exiting (the final flush waited on it). Now records wait in a bounded
buffer and are sent when the server is back, ``log_metric`` raises only for a bad key or
value, and the final flush gives up after a deadline without a batch taken.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
from array import array
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import submarine._tracksend as tracksend
from submarine._trackhttp import HttpTransport
from tests.support import wait_until

from .conftest import Figures

pytestmark = [pytest.mark.reliability, pytest.mark.bounded, pytest.mark.slow]

TRAINING = """
import pathlib, sys, time
import submarine
gates = pathlib.Path(sys.argv[1])
def log(steps):
    for step in steps:
        submarine.log_metric("loss", 1.0 / (step + 1), step=step)
def wait_for(name):
    while not (gates / name).exists():
        time.sleep(0.02)
log(range(0, 100))
print("phase one", flush=True)
wait_for("outage")
log(range(100, 200))  # the server is down: these must neither raise nor be lost
print("phase two", flush=True)
wait_for("back")
log(range(200, 300))
print("trained", flush=True)
"""


class _Steps(BaseHTTPRequestHandler):
    """Takes column batches and keeps the steps they carry."""

    protocol_version = "HTTP/1.1"
    steps: list[int]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        steps = array("q", base64.b64decode(body["columns"]["step"]))
        self.steps.extend(steps)
        answer = b'{"status":"OK","code":200,"success":true,"result":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.close_connection = True  # no kept connection outlives a stop

    def log_message(self, *args: Any) -> None:
        return


class _StepServer:
    """A counting tracking server that can be stopped and started again on its port."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> None:
        handler = type("Handler", (_Steps,), {"steps": self.steps})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@pytest.fixture
def step_server() -> Iterator[_StepServer]:
    server = _StepServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class _Output(threading.Thread):
    """Collects a stream's lines as they come."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []
        self.start()

    def run(self) -> None:
        for line in self.stream:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _training(code: str, url: str, *args: str, exit_timeout: str = "30") -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SUBMARINE_") and k not in {"JOB_ID", "TF_CONFIG", "RANK"}
    }
    env.update(
        JOB_ID="experiment-1700000000000-0001",
        SUBMARINE_TRACKING_URI=url,
        SUBMARINE_TRACKING_EXIT_TIMEOUT=exit_timeout,
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_records_logged_during_an_outage_arrive_when_the_server_is_back(
    step_server: _StepServer, tmp_path: Path, figures: Figures
) -> None:
    process = _training(TRAINING, f"http://127.0.0.1:{step_server.port}", str(tmp_path))
    out, err = _Output(process.stdout), _Output(process.stderr)
    try:
        wait_until(lambda: len(step_server.steps) >= 100, timeout=60, what="the first 100 records")
        step_server.stop()
        (tmp_path / "outage").write_text("")
        wait_until(lambda: "phase two" in out.text, timeout=60, what="training through the outage")
        wait_until(
            lambda: "cannot send" in err.text, timeout=60, what="the sender to meet the outage"
        )
        step_server.start()  # the same port again
        (tmp_path / "back").write_text("")
        assert process.wait(timeout=120) == 0, err.text
    finally:
        process.kill()
        process.wait()
        out.join(10)
        err.join(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert "trained" in out.text
    assert "Traceback" not in err.text
    assert err.text.count("cannot send") == 1, err.text  # said once
    assert sorted(step_server.steps) == list(range(300)), "a record was lost or sent twice"
    figures.set("tracking outage: records logged / arrived", f"300 / {len(step_server.steps)}")


class _Drip:
    """Accepts connections and answers nothing (``silent``), or a status line and then a
    byte every 0.2 s for ever (``dripping``), which no socket timeout ever ends."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(1 << 20)
                if self.mode == "dripping":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                while not self._stop.wait(0.2):  # the drip's pace, not a synchronisation
                    if self.mode == "dripping":
                        conn.sendall(b"x")
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


QUICK = """
import submarine
for step in range(10):
    submarine.log_metric("loss", 0.5, step=step)
print("trained", flush=True)
"""


@pytest.mark.parametrize("mode", ["silent", "dripping"])
def test_a_tracking_server_that_never_answers_does_not_keep_training_alive(
    mode: str, figures: Figures
) -> None:
    drip = _Drip(mode)
    try:
        process = _training(QUICK, f"http://127.0.0.1:{drip.port}", exit_timeout="3")
        try:
            out, err = process.communicate(timeout=120)
        finally:
            process.kill()
            process.wait()
    finally:
        drip.close()
    assert process.returncode == 0, err
    assert "trained" in out
    assert "10 metrics and 0 params of this process were not recorded" in err
    assert drip.connections >= 1
    figures.add("tracking: training processes that exited past a hung server")


def test_a_full_buffer_drops_the_oldest_counts_them_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tracksend, "MAX_BUFFER", 20_000)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # bound, then closed: nothing listens there
    transport = HttpTransport(f"http://127.0.0.1:{port}", None)
    sender = tracksend.Sender(transport, "experiment-1-0001", "worker-0")
    for step in range(60_000):
        sender.metric("loss", 0.5, step, 1)  # never raises, however full
    kept = [record[2] for record in sender.metrics]
    assert len(kept) <= 20_000
    assert kept[-1] == 59_999  # the newest are kept
    assert kept == list(range(kept[0], 60_000))  # in order, none torn apart
    assert sender.lost["metric"] == 60_000 - len(kept)
    said = capsys.readouterr().err
    assert said.count("the oldest are dropped") == 1, said

"""Bounded reads and hostile values of tracking, and the log-stream's bounded chunks
(issue 20: "Bounded reads", "Hostile values").

Before: one replica uploaded 1 MB with its add-only credential (a worker index of 8,000
characters, which every row of a read repeats) and each read of its metrics became a
226 MB answer built whole in memory; four reads at once took the server to 1.05 GB. A
log-stream request read and encoded up to 8 MiB on the event loop, and 60 unread ones
added 308 MB. An unpaired surrogate in a key made an experiment's reads a permanent 500,
and an experiment had no quota. Each test reproduces one of these; memory and latency are
reported (figures), what does not depend on the machine's load is asserted.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from submarine._server_options import Settings
from submarine.client import ExperimentClient
from submarine.models.trackwire import MAX_KEY, MAX_WORKER, encode_metrics
from tests.conftest import RunningServer
from tests.support import make_spec, wait_until

from .conftest import Figures, rss_bytes

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

MB = 1 << 20
JSON = {"Content-Type": "application/json"}


class _Peak(threading.Thread):
    """Samples the server's memory and pings it until stopped."""

    def __init__(self, server: RunningServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.halt = threading.Event()
        self.before = rss_bytes(server.process.pid)
        self.peak = self.before
        self.pings: list[float] = []
        self.start()

    def run(self) -> None:
        process = psutil.Process(self.server.process.pid)
        with httpx.Client(timeout=60) as http:
            while not self.halt.is_set():
                self.peak = max(self.peak, process.memory_info().rss)
                started = time.monotonic()
                http.get(f"{self.server.url}/api/v1/experiment/ping")
                self.pings.append(time.monotonic() - started)
                self.halt.wait(0.01)  # the sampling pace, not a synchronisation

    def stop(self) -> tuple[float, str]:
        """Growth in MB, and ping median / max in ms."""
        self.halt.set()
        self.join(60)
        pings = sorted(self.pings) or [0.0]
        shown = f"{statistics.median(pings) * 1000:.1f} / {pings[-1] * 1000:.1f}"
        return round((self.peak - self.before) / MB, 1), shown


def _experiment(server: RunningServer, cmd: str = "true") -> str:
    with ExperimentClient(server.url, timeout=60) as client:
        experiment_id = client.create_experiment(make_spec(name="reads", cmd=cmd)).experiment_id
        wait_until(
            lambda: client.get_experiment(experiment_id).status.value == "Succeeded",
            timeout=120,
            what="the experiment to finish",
        )
    return experiment_id


def _upload(experiment_id: str, worker: str, key: str, target: int = MB) -> bytes:
    """A column batch of about ``target`` bytes: as many records as fit."""
    count = target // 38
    return encode_metrics(experiment_id, worker, [(key, n / 3, n, 0) for n in range(count)])


def test_reading_the_metrics_of_a_1_mb_upload_is_bounded(
    module_server: RunningServer, figures: Figures
) -> None:
    experiment_id = _experiment(module_server)
    url = module_server.url
    with httpx.Client(base_url=url, timeout=120) as http:
        attack = _upload(experiment_id, "w" * 8000, "k")
        refused = http.post("/api/metric/add", content=attack, headers=JSON)
        assert refused.status_code == 400, refused.text
        assert "workerIndex" in refused.json()["message"]
        # The longest key and worker index there are: the answer that grows most.
        body = _upload(experiment_id, "w" * MAX_WORKER, "k" * MAX_KEY)
        stored = http.post("/api/metric/add", content=body, headers=JSON)
        assert stored.status_code == 200, stored.text
        count = stored.json()["attributes"]["stored"]

        pages, largest, cursor, seen = 0, 0, None, 0
        while True:
            params = {"id": experiment_id, **({"cursor": cursor} if cursor else {})}
            page = http.get("/api/metric/page", params=params)
            assert page.status_code == 200
            largest = max(largest, len(page.content))
            result = page.json()["result"]
            seen += sum(len(series["points"]) for series in result["series"])
            pages += 1
            cursor = result["cursor"]
            if not result["more"]:
                break
        assert seen == count
        assert largest < MB, f"a page of {largest} bytes"

    peak = _Peak(module_server)
    sizes: list[int] = []
    chunked: list[bool] = []

    def read() -> None:
        with httpx.stream(
            "POST", f"{url}/api/metric/selective", json={"id": experiment_id}, timeout=120
        ) as answer:
            chunked.append(answer.headers.get("transfer-encoding") == "chunked")
            sizes.append(sum(len(piece) for piece in answer.iter_bytes()))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(300)
    growth, pings = peak.stop()
    assert chunked == [True] * 4, "the selective answer is built whole, not streamed"
    assert len(set(sizes)) == 1
    figures.set("bounded reads: 1 MB upload, records", count)
    figures.set("bounded reads: pages / largest page (kB)", f"{pages} / {largest // 1024}")
    figures.set("bounded reads: selective answer / upload", f"{sizes[0] / len(body):.1f}x")
    figures.set("bounded reads: 4 selective reads at once, server RSS growth (MB)", growth)
    figures.set("bounded reads: ping median / max during them (ms)", pings)


def _log_file(server: RunningServer, experiment_id: str) -> Path:
    files = sorted((server.data_dir / "experiments" / experiment_id).rglob("*.log"))
    assert len(files) == 1, files
    return files[0]


@pytest.fixture
def big_log(module_server: RunningServer) -> tuple[str, int]:
    experiment_id = _experiment(module_server, "echo first")
    line = b"step 000000 loss=0.1234567 accuracy=0.9876543 " + b"x" * 150 + b"\n"
    with _log_file(module_server, experiment_id).open("ab") as file:
        file.write(line * (16 * MB // len(line)))
    return experiment_id, 16 * MB


@contextlib.contextmanager
def _unread(server: RunningServer, path: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that each ask for ``path`` and read only the status line."""
    host, port = server.url.removeprefix("http://").split(":")
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            conn = socket.create_connection((host, int(port)), timeout=60)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            sockets.append(conn)
        for conn in sockets:  # the server is answering each one
            assert conn.recv(12).startswith(b"HTTP/1.1 200")
        yield sockets
    finally:
        for conn in sockets:
            conn.close()


def test_a_log_stream_answer_holds_at_most_a_mebibyte_of_lines(
    module_server: RunningServer, big_log: tuple[str, int], figures: Figures
) -> None:
    experiment_id, size = big_log
    path = f"/api/v1/experiment/{experiment_id}/log-stream"
    with httpx.Client(base_url=module_server.url, timeout=120) as http:
        with http.stream("GET", path, params={"limit": str(8 * MB)}) as answer:
            assert answer.status_code == 200
            assert answer.headers.get("transfer-encoding") == "chunked"
            page = json.loads(answer.read())["result"]
        lines = [line for pod in page["pods"] for line in pod["lines"]]
        assert page["more"] is True
        assert sum(len(line) + 1 for line in lines) <= MB
    peak = _Peak(module_server)
    with _unread(module_server, f"{path}?limit={8 * MB}", 60):
        wait_until(
            lambda: len(peak.pings) >= 20, timeout=120, what="pings while 60 answers go unread"
        )
        growth, pings = peak.stop()
    assert module_server.running
    figures.set("log-stream: 60 unread 1 MiB answers, server RSS growth (MB)", growth)
    figures.set("log-stream: ping median / max while they go unread (ms)", pings)
    figures.set("log-stream: log size / lines in one answer (MB)", f"{size / MB:.0f} / 1")


def test_a_tracking_quota_refuses_what_would_pass_it(server_factory: Any, figures: Figures) -> None:
    per_point = len(_upload("experiment-1700000000000-0001", "worker-0", "loss")) / (MB // 38)
    defaults = Settings()
    assert defaults.tracking_max_records >= 10_000_000
    assert defaults.tracking_max_bytes >= 10_000_000 * per_point  # ten million points fit
    server = server_factory.start("--tracking-max-records", "60000", "--grace-period", "0.5")
    experiment_id = _experiment(server)
    body = _upload(experiment_id, "worker-0", "loss", target=MB // 2)
    stored = refused = 0
    with httpx.Client(base_url=server.url, timeout=120) as http:
        for _ in range(8):
            answer = http.post("/api/metric/add", content=body, headers=JSON)
            if answer.status_code == 413:
                refused += 1
                message = answer.json()["message"]
                continue
            assert answer.status_code == 200, answer.text
            stored += answer.json()["attributes"]["stored"]
        assert refused >= 1
        assert experiment_id in message
        assert "tracking quota of 60000 records" in message
        assert "--tracking-max-records" in message
        assert stored <= 60_000
        read = http.post("/api/metric/selective", json={"id": experiment_id})
        assert read.status_code == 200
        assert len(read.json()["result"]) == stored
    figures.set("tracking quota: 60000 records, stored / batches refused", f"{stored} / {refused}")
    figures.set("tracking quota: bytes a point takes, as sent", round(per_point, 1))


HOSTILE = [
    ("/api/metric/add", '{"id":"%s","key":"a\\ud800","value":1}', "[0].key"),
    ("/api/metric/add", '{"id":"%s","key":"a","value":1,"workerIndex":"w\\udc00"}', "workerIndex"),
    ("/api/metric/add", '{"id":"%s","workerIndex":"w","metrics":[["\\udfff",1,1,1]]}', "key"),
    ("/api/param/add", '{"id":"%s","key":"lr","value":"0.1\\ud800"}', "[0].value"),
    ("/api/param/add", '{"id":"%s","params":[["lr\\udc00","1"]]}', "[0].key"),
    ("/api/param/add", '{"id":"%s","workerIndex":"\\ud800","params":[["a","1"]]}', "workerIndex"),
    ("/api/metric/add", '{"id":"%s\\ud800","key":"a","value":1}', "id"),
    ("/api/param/add", '{"id":"\\udfff","params":[["a","1"]]}', "id"),
]


def test_values_that_are_not_unicode_are_refused_and_reads_never_fail(
    module_server: RunningServer, figures: Figures
) -> None:
    experiment_id = _experiment(module_server)
    with httpx.Client(base_url=module_server.url, timeout=60) as http:
        for path, template, field in HOSTILE:
            body = template % experiment_id if "%s" in template else template
            answer = http.post(path, content=body.encode(), headers=JSON)
            assert answer.status_code == 400, (body, answer.text)
            assert field in answer.json()["message"], answer.text
            figures.add("hostile tracking values refused")
        for kind in ("metric", "param"):
            read = http.post(f"/api/{kind}/selective", json={"id": experiment_id})
            assert read.json()["result"] == []  # nothing of them stored
    # Rows an older server stored with lone surrogates: every read still answers.
    with contextlib.closing(sqlite3.connect(module_server.data_dir / "submarine.db")) as db, db:
        rows = json.dumps([["loss\ud800", 1.0, "worker-\udc00", 5, 1, False]])
        db.execute(
            "INSERT INTO metric_batches (experiment_id, rows) VALUES (?, ?)",
            (experiment_id, rows),
        )
        params = json.dumps([["lr\udfff", "0.1\ud800", "worker-0"]])
        db.execute(
            "INSERT INTO param_batches (experiment_id, rows) VALUES (?, ?)",
            (experiment_id, params),
        )
    with httpx.Client(base_url=module_server.url, timeout=60) as http:
        for kind in ("metric", "param"):
            reads = [
                http.post(f"/api/{kind}/selective", json={"id": experiment_id}),
                http.get(f"/api/{kind}/list", params={"id": experiment_id}),
                http.get(f"/api/{kind}/page", params={"id": experiment_id}),
            ]
            assert [read.status_code for read in reads] == [200, 200, 200]
            assert "\ufffd" in reads[0].json()["result"][0]["key"]
    with ExperimentClient(module_server.url, timeout=60) as client:
        (metric,) = client.get_metrics(experiment_id)
        assert (metric.key, metric.worker_index) == ("loss\ufffd", "worker-\ufffd")

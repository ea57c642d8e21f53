"""Local servers and client worker processes for the benchmarks.

A server is ``python -m submarine.server`` on 127.0.0.1 with a port the OS picks, over a data
directory that may be filled beforehand, straight through the :class:`Store` API, with records
of finished experiments (creating 100,000 experiments over HTTP would run 100,000 processes).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from typing_extensions import Self

__all__ = [
    "BENCH_SPEC",
    "REPO",
    "WORKER",
    "Server",
    "Worker",
    "fill_store",
    "fresh_dir",
    "peak_rss_of",
    "rss_of",
    "stored_spec",
]

REPO = Path(__file__).resolve().parent.parent
"""The repository root."""
WORKER = Path(__file__).resolve().parent / "worker.py"
"""The client worker script."""

BENCH_SPEC: dict[str, Any] = {
    "meta": {
        "name": "bench",
        "namespace": "default",
        "framework": "TensorFlow",
        "cmd": "true",
        "envVars": {"ENV_1": "ENV1"},
        "tags": ["bench"],
    },
    "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    "spec": {
        "Ps": {"replicas": 1, "resources": "cpu=0.1,memory=64M"},
        "Worker": {"replicas": 1, "resources": "cpu=0.1,memory=64M"},
    },
}
"""A two-role spec in the shape of Submarine's documented example; it runs ``true``."""

_LISTENING = re.compile(r"listening on (http://[^\s]+)")


def stored_spec(spec: dict[str, Any], experiment_id: str, name: str) -> dict[str, Any]:
    """A spec as the server stores it: validated, ``experimentId`` and ``resourceMap`` filled."""
    from submarine.models import ExperimentSpec

    stored = ExperimentSpec.model_validate(spec).to_dict()
    stored = copy.deepcopy(stored)
    stored["meta"]["experimentId"] = experiment_id
    stored["meta"]["name"] = name
    for task in stored["spec"].values():
        resources = task.get("resources") or ""
        task["resourceMap"] = dict(
            part.split("=", 1) for part in resources.split(",") if "=" in part
        )
    return stored


def fill_store(
    data_dir: Path, count: int, *, spec: dict[str, Any] | None = None, start: int = 0
) -> list[str]:
    """Insert ``count`` finished experiments into the store of ``data_dir``; return their ids.

    They are named ``bench-<start>`` onwards, so a store can be filled in steps.
    """
    from submarine.server.settings import Settings
    from submarine.server.store.experiments import ExperimentRecord, Store

    database = Settings(data_dir=data_dir, workdir=data_dir).database
    store = Store(database)
    template = stored_spec(spec or BENCH_SPEC, "experiment-0-0000", "bench")
    encoded = json.dumps(template)
    epoch = datetime(2024, 3, 14, 8, 3, 10, tzinfo=timezone.utc)
    ids: list[str] = []
    try:
        for index in range(start, start + count):
            experiment_id = store.next_experiment_id()
            name = f"bench-{index}"
            stored = json.loads(encoded)
            stored["meta"]["experimentId"] = experiment_id
            stored["meta"]["name"] = name
            accepted = epoch + timedelta(seconds=index)
            store.insert(
                ExperimentRecord(
                    experiment_id=experiment_id,
                    uid=str(uuid.uuid4()),
                    name=name,
                    status="Succeeded",
                    spec=stored,
                    accepted_time=accepted,
                    created_time=accepted + timedelta(milliseconds=200),
                    running_time=accepted + timedelta(milliseconds=400),
                    finished_time=accepted + timedelta(seconds=3),
                )
            )
            ids.append(experiment_id)
    finally:
        store.close()
    return ids


def rss_of(pid: int) -> int:
    """A process's resident set size, in bytes."""
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def peak_rss_of(pid: int) -> int:
    """A process's peak resident set size (VmHWM), in bytes; its current RSS elsewhere."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return rss_of(pid)
    found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else rss_of(pid)


class Server:
    """``python -m submarine.server`` on 127.0.0.1, started and stopped by the benchmarks."""

    def __init__(self, data_dir: Path, *extra: str, timeout: float = 60.0) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "server.log"
        self._log: IO[bytes] = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "submarine.server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
                *extra,
            ],
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.url = self._wait_for_url(timeout)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
            found = _LISTENING.search(text)
            if found:
                return found.group(1).rstrip("/")
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        raise RuntimeError(
            f"the local server did not say 'listening on' within {timeout:.0f} s "
            f"(exit code {self.process.returncode}); its output: {text[-2000:]}"
        )

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def rss(self) -> int:
        """The server process's resident set size, in bytes."""
        return rss_of(self.pid)

    def peak_rss(self) -> int:
        """The server process's highest resident set size so far, in bytes."""
        return peak_rss_of(self.pid)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Worker:
    """A client process from ``worker.py``: ``call`` sends a command and returns the answer."""

    def __init__(
        self,
        impl: str,
        url: str,
        *,
        python: Path | str | None = None,
        cwd: Path | None = None,
        script: Path = WORKER,
        args: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        """Start ``script`` (``worker.py`` by default) with ``impl``, ``url`` and ``args``
        (by default the repository root, except for upstream), ``env`` over this process's
        environment, and its stderr into ``log`` (else a pipe, read when it fails)."""
        self.impl = impl
        command = [str(python or sys.executable), "-I", str(script), impl, url]
        if args is not None:
            command.extend(args)
        elif impl != "upstream":
            command.append(str(REPO))
        self._log_path = log
        self._log: IO[bytes] | None = open(log, "wb") if log else None  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            cwd=cwd or Path(tempfile.gettempdir()),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log or subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"},
        )
        self._ready: dict[str, Any] | None = None

    @property
    def ready(self) -> dict[str, Any]:
        """The worker's first line (it has imported its client); waits for it once.

        Starting several workers before the first call lets their imports overlap.
        """
        if self._ready is None:
            self._ready = self._read()
        return self._ready

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=10)
            raise RuntimeError(f"the {self.impl} worker stopped: {self._stderr()[-2000:]}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the {self.impl} worker failed: {answer['error']}")
        return answer

    def _stderr(self) -> str:
        if self._log_path is not None:
            return self._log_path.read_text(encoding="utf-8", errors="replace")
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def call(self, **command: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (``RuntimeError`` when it failed)."""
        assert self.process.stdin is not None
        _ = self.ready
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def seconds(self, **command: Any) -> float:
        """Send one timing command and return its ``seconds``."""
        return float(self.call(**command)["seconds"])

    def close(self) -> None:
        """Ask the worker to quit and wait for it."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path`` (whatever was there is removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path

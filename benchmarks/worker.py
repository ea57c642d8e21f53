"""A client process that times calls on request: one per implementation under test.

Run as a script (``python -I worker.py IMPL HOST [REPO]``) so that the same file drives our
client, raw httpx and the upstream ``apache-submarine`` client in its own
virtualenv (which has neither httpx nor pydantic). It reads one JSON command a line on stdin
and answers one JSON line on stdout; the timing happens here, so the parent's own work never
counts. Implementations:

* ``ours``     -- ``submarine.ExperimentClient`` (this repository)
* ``raw``      -- ``httpx.Client`` + ``json.loads``: the baseline of goals 1 and 2
* ``upstream`` -- the upstream package's ``ExperimentClient``
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

API = "/api/v1/experiment"
TERMINAL = {"succeeded", "failed", "deleted"}


def rss_bytes() -> int:
    """This process's resident set size, from /proc (no psutil in the upstream venv)."""
    try:
        with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class Impl:
    """One way of calling the server; subclasses fill in the operations they support."""

    def __init__(self, host: str) -> None:
        self.host = host.rstrip("/")

    def get(self, experiment_id: str) -> object:
        """Fetch one experiment."""
        raise NotImplementedError

    def list(self) -> Sequence[Any]:
        """Fetch every experiment."""
        raise NotImplementedError

    def create(self, spec: dict[str, Any]) -> str:
        """Create an experiment; return its id."""
        raise NotImplementedError

    def ping(self) -> object:
        """Ask the server for Pong."""
        raise NotImplementedError

    def status(self, experiment_id: str) -> str:
        """The status of one experiment."""
        raise NotImplementedError

    def follow(self, experiment_id: str, interval: float) -> tuple[int, int]:
        """Read an experiment's log to its end; return (lines, bytes received)."""
        raise NotImplementedError

    def wait_done(self, experiment_id: str, poll: float, deadline: float) -> str:
        """Wait until the experiment is terminal, polling its status; return the status."""
        status = ""
        while time.perf_counter() < deadline:
            status = self.status(experiment_id)
            if status.lower() in TERMINAL:
                break
            time.sleep(poll)
        return status


class Raw(Impl):
    """httpx + json.loads, nothing else."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        import httpx

        self.http = httpx.Client(timeout=120.0)
        self.api = self.host + API

    def get(self, experiment_id: str) -> object:
        return json.loads(self.http.get(f"{self.api}/{experiment_id}").content)

    def list(self) -> Sequence[Any]:
        result: list[Any] = json.loads(self.http.get(self.api).content)["result"]
        return result

    def create(self, spec: dict[str, Any]) -> str:
        answer = json.loads(self.http.post(self.api, json=spec).content)
        return str(answer["result"]["experimentId"])

    def ping(self) -> object:
        return json.loads(self.http.get(f"{self.api}/ping").content)

    def status(self, experiment_id: str) -> str:
        return str(
            json.loads(self.http.get(f"{self.api}/{experiment_id}").content)["result"]["status"]
        )

    def follow(self, experiment_id: str, interval: float) -> tuple[int, int]:
        """Poll status and the whole log, as the upstream client's wait_for_finish does."""
        moved = 0
        shown: dict[str, int] = {}
        while True:
            status = self.status(experiment_id)
            response = self.http.get(f"{self.api}/logs/{experiment_id}")
            moved += len(response.content)
            for pod in json.loads(response.content)["result"]["logContent"]:
                shown[pod["podName"]] = len(pod["podLog"] or [])
            if status.lower() in TERMINAL:
                return sum(shown.values()), moved
            time.sleep(interval)


class Ours(Impl):
    """submarine.ExperimentClient."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        from submarine import ExperimentClient

        self.client = ExperimentClient(host, timeout=120.0)

    def get(self, experiment_id: str) -> object:
        return self.client.get_experiment(experiment_id)

    def list(self) -> Sequence[Any]:
        return self.client.list_experiments()

    def create(self, spec: dict[str, Any]) -> str:
        return str(self.client.create_experiment(spec).experiment_id)

    def ping(self) -> object:
        return self.client.ping()

    def status(self, experiment_id: str) -> str:
        return str(self.client.get_experiment(experiment_id).status_name)

    def wait_done(self, experiment_id: str, poll: float, deadline: float) -> str:
        """``wait_for_finish``: with the log-stream extension it answers on the change."""
        import io

        timeout = max(0.1, deadline - time.perf_counter())
        self.client.wait_for_finish(
            experiment_id, polling_interval=poll, timeout=timeout, stream=io.StringIO()
        )
        return self.status(experiment_id)

    def follow(self, experiment_id: str, interval: float) -> tuple[int, int]:
        import httpx

        from submarine import ExperimentClient

        class Counting(httpx.BaseTransport):
            """Counts the body bytes of every response."""

            def __init__(self) -> None:
                self.inner = httpx.HTTPTransport()
                self.bytes = 0

            def handle_request(self, request: httpx.Request) -> httpx.Response:
                response = self.inner.handle_request(request)
                body = b"".join(response.iter_raw())
                response.close()
                self.bytes += len(body)
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    stream=httpx.ByteStream(body),
                    extensions=response.extensions,
                )

        counting = Counting()
        with ExperimentClient(self.host, timeout=120.0, transport=counting) as client:
            lines = sum(1 for _ in client.stream_logs(experiment_id, polling_interval=interval))
        return lines, counting.bytes


class Upstream(Impl):
    """The upstream apache-submarine ExperimentClient (run in its own venv)."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        import logging

        from submarine import ExperimentClient

        logging.getLogger().setLevel(logging.WARNING)  # it sets INFO at import
        self.client = ExperimentClient(host=self.host)

    def get(self, experiment_id: str) -> object:
        return self.client.get_experiment(experiment_id)

    def list(self) -> Sequence[Any]:
        return self.client.list_experiments()

    def create(self, spec: dict[str, Any]) -> str:
        return str(self.client.create_experiment(spec)["experimentId"])

    def ping(self) -> object:
        return getattr(self.client, "experiment_api").ping()  # noqa: B009 (upstream's)

    def status(self, experiment_id: str) -> str:
        return str(self.client.get_experiment(experiment_id)["status"])


IMPLS: dict[str, Callable[[str], Impl]] = {
    "raw": Raw,
    "ours": Ours,
    "upstream": Upstream,
}


def _named(spec: dict[str, Any], index: int) -> dict[str, Any]:
    named: dict[str, Any] = json.loads(json.dumps(spec))
    named["meta"]["name"] = f"{named['meta']['name']}-{os.getpid()}-{index}"
    return named


class Worker:
    """Answers timing commands for one implementation."""

    def __init__(self, impl: Impl) -> None:
        self.impl = impl
        self.created = 0

    def _spec(self, command: dict[str, Any]) -> dict[str, Any]:
        self.created += 1
        return _named(command["spec"], self.created)

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """Run one command and describe what happened."""
        op = command["op"]
        n = int(command.get("n", 1))
        impl = self.impl
        if op == "rss":
            return {"rss": rss_bytes()}
        if op == "get":
            target = command["id"]
            start = time.perf_counter()
            for _ in range(n):
                impl.get(target)
            return {"seconds": (time.perf_counter() - start) / n}
        if op == "list":
            count = 0
            start = time.perf_counter()
            for _ in range(n):
                count = len(impl.list())
            return {"seconds": (time.perf_counter() - start) / n, "count": count}
        if op == "ping":
            start = time.perf_counter()
            for _ in range(n):
                impl.ping()
            return {"seconds": (time.perf_counter() - start) / n}
        if op == "create":
            specs = [self._spec(command) for _ in range(n)]
            ids = []
            start = time.perf_counter()
            for spec in specs:
                ids.append(impl.create(spec))
            return {"seconds": (time.perf_counter() - start) / n, "ids": ids}
        if op == "until_done":
            spec = self._spec(command)
            poll = float(command.get("poll", 0.005))
            start = time.perf_counter()
            experiment_id = impl.create(spec)
            deadline = start + float(command.get("timeout", 60.0))
            if command.get("mode") == "wait":
                status = impl.wait_done(experiment_id, poll, deadline)
            else:
                status = Impl.wait_done(impl, experiment_id, poll, deadline)
            return {"seconds": time.perf_counter() - start, "status": status, "id": experiment_id}
        if op == "follow":
            before = rss_bytes()
            start = time.perf_counter()
            lines, moved = impl.follow(command["id"], float(command.get("interval", 1.0)))
            return {
                "seconds": time.perf_counter() - start,
                "lines": lines,
                "bytes": moved,
                "rss_before": before,
                "rss_after": rss_bytes(),
            }
        if op == "concurrent":
            return self._concurrent(command)
        raise ValueError(f"unknown op {op!r}: use get, list, ping, create, until_done, follow")

    def _concurrent(self, command: dict[str, Any]) -> dict[str, Any]:
        """``clients`` threads, each with its own client, sharing ``n`` calls of ``what``."""
        import threading

        clients = int(command["clients"])
        n = int(command["n"])
        what = command["what"]
        factory = IMPLS[command.get("impl", "ours")]
        impls = [factory(self.impl.host) for _ in range(clients)]
        specs = [self._spec(command) for _ in range(n)] if what == "create" else []
        for impl in impls:  # open each connection before the clock starts
            impl.ping()
        barrier = threading.Barrier(clients + 1)
        lock = threading.Lock()
        todo = list(range(n))

        def run(impl: Impl) -> None:
            barrier.wait()
            while True:
                with lock:
                    if not todo:
                        return
                    index = todo.pop()
                if what == "create":
                    impl.create(specs[index])
                else:
                    impl.ping()

        threads = [threading.Thread(target=run, args=(impl,)) for impl in impls]
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "rate": n / seconds}


def main() -> None:
    """Build the implementation named on the command line, then serve commands."""
    impl_name, host = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:
        sys.path.insert(0, sys.argv[3])
    worker = Worker(IMPLS[impl_name](host))
    out = sys.stdout
    out.write(json.dumps({"ready": impl_name, "rss": rss_bytes()}) + "\n")
    out.flush()
    for line in sys.stdin:
        command: dict[str, Any] = json.loads(line)
        if command.get("op") == "quit":
            break
        try:
            answer = worker.handle(command)
        except Exception as exc:  # report to the parent, which raises
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()

"""Quick check: the typed client's per-call cost against raw httpx + json.loads.

Starts a local server in a scratch directory, creates ``--count`` experiments (command
``true``) through the client, waits until all are finished, then times, alternating call
by call in the same run on the same server and the same kind of connection pool:

* ``ExperimentClient.get_experiment(id)`` vs ``httpx.Client.get(url)`` + ``json.loads``
* ``ExperimentClient.list_experiments()`` vs the same for the list URL

Usage: ``python benchmarks/quick_client_ratio.py [--count 1000] [--calls 2000]``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from submarine import ExperimentClient

SPEC = {
    "meta": {"name": "bench", "framework": "TensorFlow", "cmd": "true"},
    "environment": {"image": "local"},
    "spec": {"Worker": {"replicas": 1, "resources": "cpu=100m,memory=16M"}},
}


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    """A local server on 127.0.0.1 and a free port; its URL read from its output."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "submarine.server", "--host", "127.0.0.1", "--port", "0"),
            *("--data-dir", str(root / "data"), "--workdir", str(root)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # ends when the server exits
        seen.append(line)
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            # Keep draining its output so the server never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, found.group(1)
    process.wait(30)
    raise SystemExit("the server did not start:\n" + "".join(seen))


def compare(name: str, typed: Callable[[], object], raw: Callable[[], object], calls: int) -> None:
    """Alternate typed and raw calls one by one; print the median of each and the ratio."""
    typed(), raw()  # warm up
    typed_times, raw_times = [], []
    for _ in range(calls):
        for function, times in ((typed, typed_times), (raw, raw_times)):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    t, r = statistics.median(typed_times), statistics.median(raw_times)
    print(f"{name:<40} client {t * 1e3:8.3f} ms   raw httpx {r * 1e3:8.3f} ms   ratio {t / r:.3f}")


def main() -> None:
    """Run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=2000, help="get_experiment calls of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        process, url = start_server(Path(scratch))
        try:
            with ExperimentClient(url) as client, httpx.Client() as raw:
                ids = []
                for index in range(args.count):
                    spec = {**SPEC, "meta": {**SPEC["meta"], "name": f"bench-{index}"}}
                    ids.append(client.create_experiment(spec).experiment_id)
                deadline = time.monotonic() + 600
                for exp_id in ids:  # the long poll answers as soon as each one has finished
                    remaining = max(0.0, deadline - time.monotonic())
                    client.wait_for_finish(exp_id, 30, remaining, stream=io.StringIO())
                one = f"{url}/api/v1/experiment/{ids[0]}"
                every = f"{url}/api/v1/experiment"
                print(f"server {url}, {args.count} experiments (medians of alternating calls)")
                compare(
                    "get_experiment",
                    lambda: client.get_experiment(ids[0]),
                    lambda: json.loads(raw.get(one).content),
                    args.calls,
                )
                compare(
                    f"list_experiments ({args.count} experiments)",
                    client.list_experiments,
                    lambda: json.loads(raw.get(every).content),
                    max(20, args.calls // 40),
                )
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()

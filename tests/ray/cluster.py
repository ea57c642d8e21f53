"""A real Ray cluster of several nodes on this machine, for the Ray backend's tests.

Every node is ``ray start --block`` in a process group of its own that the test owns; a node
is removed, and the cluster stopped, by killing those groups (never ``ray stop``, which
stops every Ray of the machine). The cluster's files go to a private temp dir. Each node
declares a custom resource ``node-<name>`` so tests can tell nodes apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
START_TIMEOUT = 120.0
"""Seconds a node has to join (cluster start on 2 busy cores can take 20+ s)."""
_RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    """One ``ray start`` process group."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """Kill the node's whole process group (as a machine that dies) and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(30)


class RayCluster:
    """A head node and worker nodes started with ``ray start --block`` on 127.0.0.1."""

    def __init__(self) -> None:
        # Short: Ray's unix sockets live under it, and their paths are limited to 107 bytes.
        self.temp = Path(tempfile.mkdtemp(prefix="sr-", dir="/tmp"))
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.nodes: list[Node] = []

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SUBMARINE_"))}
        env["RAY_TMPDIR"] = str(self.temp)
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        return env

    def _start(self, name: str, args: list[str], cpus: int, gpus: int) -> Node:
        resources = json.dumps({f"node-{name}": 1})
        common = [
            "--block",
            "--node-ip-address",
            HOST,
            "--num-cpus",
            str(cpus),
            "--num-gpus",
            str(gpus),
            "--resources",
            resources,
            "--object-store-memory",
            str(80 * 1024 * 1024),
            "--disable-usage-stats",
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
        ]
        log = self.temp / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [_RAY, "start", *args, *common],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self._env(),
                start_new_session=True,
            )
        node = Node(name, process, log)
        self.nodes.append(node)
        return node

    def start_head(self, cpus: int = 1) -> Node:
        """Start the head node (it runs replicas too) and wait until it is up."""
        head = self._start(
            "head",
            [
                "--head",
                "--port",
                str(self.port),
                "--temp-dir",
                str(self.temp),
                "--include-dashboard=false",
                "--dashboard-port",
                str(free_port()),
            ],
            cpus,
            0,
        )
        self.wait_for_nodes(1)
        return head

    def add_node(self, name: str, cpus: int = 1, gpus: int = 0) -> Node:
        """Start a worker node and wait until the cluster counts it."""
        expected = len(self.alive_nodes()) + 1
        node = self._start(name, ["--address", self.address], cpus, gpus)
        self.wait_for_nodes(expected)
        return node

    def query(self, code: str, timeout: float = 120.0) -> Any:
        """Run ``code`` in a fresh Ray driver connected to the cluster; what it assigns to
        ``result`` (JSON)."""
        script = (
            "import json, ray\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
            f"{code}\n"
            "print('RESULT=' + json.dumps(result))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            env=self._env(),
            timeout=timeout,
            check=False,
        )
        for line in done.stdout.decode().splitlines():
            if line.startswith("RESULT="):
                return json.loads(line.removeprefix("RESULT="))
        raise AssertionError(
            f"the query failed ({done.returncode}): {done.stdout.decode()}{done.stderr.decode()}"
        )

    def alive_nodes(self) -> list[str]:
        """The custom node names of the nodes alive now."""
        if not self.nodes:
            return []
        found: list[str] = self.query(
            "result = [k.removeprefix('node-') for n in ray.nodes() if n['Alive']"
            " for k in n['Resources'] if k.startswith('node-')]"
        )
        return found

    def wait_for_nodes(self, count: int) -> None:
        """Wait until ``count`` nodes are alive (fail with the nodes' logs after a while)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if len(self.alive_nodes()) >= count:
                    return
            except (AssertionError, subprocess.TimeoutExpired):
                pass
            dead = [n for n in self.nodes if n.process.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(f"{n.name}: {n.log.read_text()[-2000:]}" for n in self.nodes)
                raise AssertionError(f"the Ray cluster did not get {count} nodes:\n{logs}")
            time.sleep(0.5)

    def leftovers(self) -> dict[str, Any]:
        """Actors alive and placement groups not removed, in every namespace."""
        found: dict[str, Any] = self.query(
            "from ray.util.state import list_actors\n"
            "actors = [a['name'] for a in ray.util.list_named_actors(all_namespaces=True)]\n"
            "groups = [g['name'] for g in ray.util.placement_group_table().values()"
            " if g['state'] != 'REMOVED']\n"
            "result = {'actors': actors, 'groups': groups}"
        )
        return found

    def close(self) -> None:
        """Kill every node's process group and delete the cluster's files."""
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.temp, ignore_errors=True)

"""Distributed parameter-server training of a digit classifier, TensorFlow style, no TensorFlow.

Every process runs this same script and learns its part from the ``TF_CONFIG`` environment
variable, exactly as a TensorFlow job does under Submarine's TFJob operator::

    {"cluster": {"ps": ["127.0.0.1:2222"], "worker": ["127.0.0.1:2223", "127.0.0.1:2224"]},
     "task": {"type": "worker", "index": 0}, "environment": "cloud"}

- The ``ps`` task holds the parameters of a softmax-regression classifier and serves them over
  TCP. It exits 0 once every worker has said it is done, or 1 after ``--ps-timeout`` seconds.
- Each ``worker`` (and a ``chief`` or ``master`` task, if the cluster has one) trains on its own
  shard of scikit-learn's bundled ``load_digits`` data: pull the parameters, compute a gradient on
  a minibatch with numpy, push the gradient; the ps applies it with SGD (asynchronous updates, as
  in TensorFlow's parameter-server training). Workers print ``step N loss L accuracy A`` lines.
  ``--step-time`` paces the steps (a real model's steps take that long) so the run can be watched.
- Every worker evaluates the parameters on a held-out test split when it is done and prints
  ``final accuracy: 0.xxx``; the chief (the ``chief``/``master`` task, or else worker 0) first
  waits for the other workers, so its figure is the final model's.

With no ``TF_CONFIG``, or a cluster of a single task, the script trains locally in one process.

Wire format: a message is a 4-byte ASCII opcode, a 4-byte big-endian payload length, then the
payload: zero or more arrays written back to back with ``np.save`` and read with ``np.load``
(``allow_pickle=False``, so a peer can never make us unpickle anything).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

try:  # the workbench's charts: metrics go to the Submarine server that runs this replica
    from submarine import log_metric, log_param
except ImportError:  # the example also runs on its own, without the SDK
    log_metric = log_param = None

Array = NDArray[np.float64]
TRACKING = log_metric is not None and bool(
    os.environ.get("SUBMARINE_TRACKING_URI") or os.environ.get("SUBMARINE_TRACKING_FILE")
)
"""Whether metrics are recorded: in a replica of a Submarine server, or to a file if asked."""

SEED = 0
NUM_FEATURES = 64
NUM_CLASSES = 10
HEADER = struct.Struct("!4sI")
MAX_PAYLOAD = 16 * 1024 * 1024

# Requests a worker sends, and the ps's replies.
PULL = b"PULL"  # -> PARM with the current parameters
PUSH = b"PUSH"  # gradients -> OKAY once applied
WAIT = b"WAIT"  # -> OKAY once every other worker is done (the chief's barrier)
DONE = b"DONE"  # -> OKAY; the worker has finished
PARM = b"PARM"
OKAY = b"OKAY"


# ---------------------------------------------------------------------------------------------
# The cluster, from TF_CONFIG


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster.

    Args:
        role: ``"ps"``, ``"worker"``, ``"evaluator"`` or ``"local"`` (a single-process run).
        index: this task's index among the workers (the chief is worker 0), or among the ps tasks.
        ps_address: ``host:port`` of the parameter server, or ``None`` in a local run.
        num_workers: how many tasks train (chief and master tasks count as workers).
    """

    role: str
    index: int
    ps_address: str | None
    num_workers: int

    @property
    def is_chief(self) -> bool:
        """Whether this task evaluates and reports the final accuracy."""
        return self.role == "local" or (self.role == "worker" and self.index == 0)


def parse_tf_config(raw: str | None) -> Task:
    """Find this process's role and peers in a ``TF_CONFIG`` JSON string.

    Args:
        raw: the value of ``TF_CONFIG``; ``None`` or empty means a local, single-process run.
    """
    if not raw:
        return Task(role="local", index=0, ps_address=None, num_workers=1)
    config = json.loads(raw)
    cluster: dict[str, list[str]] = config.get("cluster", {})
    task_type = str(config.get("task", {}).get("type", "worker")).lower()
    task_index = int(config.get("task", {}).get("index", 0))
    # A chief or master task is worker 0; the "worker" tasks follow it.
    workers = [*cluster.get("chief", []), *cluster.get("master", []), *cluster.get("worker", [])]
    ps = cluster.get("ps", [])
    if len(ps) + len(workers) <= 1:
        return Task(role="local", index=0, ps_address=None, num_workers=1)
    if len(ps) != 1:
        raise SystemExit(f"this example needs exactly one ps task, TF_CONFIG lists {len(ps)}: {ps}")
    if task_type == "ps":
        return Task(role="ps", index=task_index, ps_address=ps[0], num_workers=len(workers))
    if task_type in ("chief", "master"):
        return Task(role="worker", index=0, ps_address=ps[0], num_workers=len(workers))
    if task_type == "worker":
        offset = len(workers) - len(cluster.get("worker", []))
        index = offset + task_index
        return Task(role="worker", index=index, ps_address=ps[0], num_workers=len(workers))
    if task_type == "evaluator":
        return Task(role="evaluator", index=task_index, ps_address=ps[0], num_workers=len(workers))
    raise SystemExit(f"unknown task type {task_type!r} in TF_CONFIG; expected ps, worker or chief")


def split_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` into its parts."""
    host, _, port = address.rpartition(":")
    return host, int(port)


# ---------------------------------------------------------------------------------------------
# Data and model


@dataclass(frozen=True)
class Dataset:
    """Features scaled to [0, 1] and integer labels."""

    x: Array
    y: NDArray[np.int64]


def load_split() -> tuple[Dataset, Dataset]:
    """Load ``load_digits`` and split it into train and test sets, identically in every process."""
    digits = load_digits()
    x = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=SEED, stratify=y
    )
    return Dataset(x_train, y_train), Dataset(x_test, y_test)


def shard(data: Dataset, index: int, count: int) -> Dataset:
    """Return the ``index``-th of ``count`` interleaved shards of ``data``."""
    return Dataset(data.x[index::count], data.y[index::count])


def init_params() -> list[Array]:
    """Initial softmax-regression parameters: small random weights and zero biases."""
    rng = np.random.default_rng(SEED)
    return [rng.normal(0.0, 0.01, (NUM_FEATURES, NUM_CLASSES)), np.zeros(NUM_CLASSES)]


def probabilities(params: Sequence[Array], x: Array) -> Array:
    """Class probabilities of a softmax-regression model for each row of ``x``."""
    weights, bias = params
    logits = x @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def loss_and_gradients(params: Sequence[Array], batch: Dataset) -> tuple[float, list[Array]]:
    """Mean cross-entropy loss on ``batch`` and its gradients with respect to ``params``."""
    probs = probabilities(params, batch.x)
    n = len(batch.y)
    loss = float(-np.log(probs[np.arange(n), batch.y] + 1e-12).mean())
    delta = probs
    delta[np.arange(n), batch.y] -= 1.0
    delta /= n
    return loss, [batch.x.T @ delta, delta.sum(axis=0)]


def accuracy(params: Sequence[Array], data: Dataset) -> float:
    """Fraction of ``data`` the model classifies correctly."""
    return float((probabilities(params, data.x).argmax(axis=1) == data.y).mean())


# ---------------------------------------------------------------------------------------------
# Wire format


def encode(opcode: bytes, arrays: Sequence[Array] = ()) -> bytes:
    """Frame one message: opcode, payload length, then the arrays in ``.npy`` format."""
    buffer = io.BytesIO()
    for array in arrays:
        np.save(buffer, array, allow_pickle=False)
    payload = buffer.getvalue()
    return HEADER.pack(opcode, len(payload)) + payload


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes from ``sock``; raise ``ConnectionError`` if it closes first."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        chunks += chunk
    return bytes(chunks)


def receive(sock: socket.socket) -> tuple[bytes, list[Array]]:
    """Read one message from ``sock`` and return its opcode and arrays."""
    opcode, size = HEADER.unpack(receive_exactly(sock, HEADER.size))
    if size > MAX_PAYLOAD:
        raise ConnectionError(f"message of {size} bytes is larger than the {MAX_PAYLOAD} allowed")
    buffer = io.BytesIO(receive_exactly(sock, size))
    arrays: list[Array] = []
    while buffer.tell() < size:
        arrays.append(np.load(buffer, allow_pickle=False))
    return opcode, arrays


# ---------------------------------------------------------------------------------------------
# The parameter server


class ParameterServer(socketserver.ThreadingTCPServer):
    """A TCP server holding the model parameters; one thread per connected worker.

    Args:
        address: ``(host, port)`` to listen on.
        num_workers: how many workers must say they are done before the server finishes.
        learning_rate: the SGD step applied to every pushed gradient.
    """

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], num_workers: int, learning_rate: float) -> None:
        super().__init__(address, WorkerHandler)
        self.params = init_params()
        self.num_workers = num_workers
        self.learning_rate = learning_rate
        self.updates = 0
        self.done: set[int] = set()
        self.condition = threading.Condition()

    def apply(self, gradients: Sequence[Array]) -> None:
        """Apply one SGD update."""
        with self.condition:
            for param, gradient in zip(self.params, gradients, strict=True):
                param -= self.learning_rate * gradient
            self.updates += 1

    def finish(self, worker: int) -> None:
        """Record that ``worker`` is done and wake anyone waiting for that."""
        with self.condition:
            self.done.add(worker)
            print(f"ps: worker {worker} done ({len(self.done)}/{self.num_workers})", flush=True)
            self.condition.notify_all()

    def wait_for_others(self, worker: int) -> None:
        """Block until every worker other than ``worker`` is done."""
        with self.condition:
            self.condition.wait_for(lambda: len(self.done - {worker}) >= self.num_workers - 1)

    def all_done(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every worker to finish; return whether they did."""
        with self.condition:
            return self.condition.wait_for(lambda: len(self.done) >= self.num_workers, timeout)


class WorkerHandler(socketserver.BaseRequestHandler):
    """Serve one worker's connection: answer its requests until it disconnects."""

    server: ParameterServer

    def handle(self) -> None:
        """Answer PULL, PUSH, WAIT and DONE requests from one worker."""
        sock: socket.socket = self.request
        while True:
            try:
                opcode, arrays = receive(sock)
            except (ConnectionError, struct.error):
                return
            if opcode == PULL:
                with self.server.condition:
                    reply = encode(PARM, self.server.params)
            elif opcode == PUSH:
                self.server.apply(arrays)
                reply = encode(OKAY)
            elif opcode == WAIT:
                self.server.wait_for_others(int(arrays[0]))
                reply = encode(OKAY)
            elif opcode == DONE:
                self.server.finish(int(arrays[0]))
                reply = encode(OKAY)
            else:
                print(f"ps: unknown request {opcode!r}; closing the connection", flush=True)
                return
            sock.sendall(reply)


def run_ps(task: Task, learning_rate: float, timeout: float) -> int:
    """Serve parameters until every worker is done; return the process exit code."""
    assert task.ps_address is not None
    with ParameterServer(split_address(task.ps_address), task.num_workers, learning_rate) as ps:
        thread = threading.Thread(target=ps.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        print(f"ps: serving on {task.ps_address} for {task.num_workers} workers", flush=True)
        finished = ps.all_done(timeout)
        ps.shutdown()
        thread.join()
    if not finished:
        print(f"ps: gave up after {timeout:.0f} s; workers done: {sorted(ps.done)}", flush=True)
        return 1
    print(f"ps: all {task.num_workers} workers done after {ps.updates} updates", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# Workers


class ParameterStore(Protocol):
    """Where a worker gets parameters from and sends gradients to."""

    def pull(self) -> list[Array]:
        """Return the current parameters."""
        ...

    def push(self, gradients: Sequence[Array]) -> None:
        """Apply ``gradients`` to the parameters."""
        ...


class LocalStore:
    """Parameters held in this process, for a single-process run.

    Args:
        learning_rate: the SGD step applied to every pushed gradient.
    """

    def __init__(self, learning_rate: float) -> None:
        self.params = init_params()
        self.learning_rate = learning_rate

    def pull(self) -> list[Array]:
        """Return a copy of the current parameters."""
        return [param.copy() for param in self.params]

    def push(self, gradients: Sequence[Array]) -> None:
        """Apply one SGD update."""
        for param, gradient in zip(self.params, gradients, strict=True):
            param -= self.learning_rate * gradient


class RemoteStore:
    """A connection to the parameter server.

    Args:
        address: the ps's ``host:port``.
        worker: this worker's index, sent with WAIT and DONE.
        connect_timeout: how long to keep retrying the connection; the ps may start after us.
        io_timeout: how long any one request may take before we give up.
    """

    def __init__(
        self, address: str, worker: int, connect_timeout: float, io_timeout: float
    ) -> None:
        self.worker = worker
        self.sock = connect(split_address(address), connect_timeout)
        self.sock.settimeout(io_timeout)

    def request(self, opcode: bytes, arrays: Sequence[Array] = ()) -> list[Array]:
        """Send one request and return the arrays of its reply."""
        self.sock.sendall(encode(opcode, arrays))
        reply, result = receive(self.sock)
        if reply not in (PARM, OKAY):
            raise ConnectionError(f"unexpected reply {reply!r} to {opcode!r}")
        return result

    def pull(self) -> list[Array]:
        """Fetch the current parameters from the ps."""
        return self.request(PULL)

    def push(self, gradients: Sequence[Array]) -> None:
        """Send gradients to the ps, which applies them."""
        self.request(PUSH, gradients)

    def wait_for_others(self) -> None:
        """Block until every other worker is done."""
        self.request(WAIT, [np.array(self.worker)])

    def done(self) -> None:
        """Tell the ps this worker has finished, and disconnect."""
        self.request(DONE, [np.array(self.worker)])
        self.sock.close()


def connect(address: tuple[str, int], timeout: float) -> socket.socket:
    """Connect to ``address``, retrying with backoff until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return socket.create_connection(address, timeout=5.0)
        except OSError as error:
            if time.monotonic() + delay > deadline:
                raise ConnectionError(
                    f"could not reach the ps at {address[0]}:{address[1]} within {timeout:.0f} s"
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def train(store: ParameterStore, data: Dataset, args: argparse.Namespace, seed: int) -> None:
    """Run ``args.steps`` steps of minibatch SGD against ``store``, printing progress.

    With ``args.step_time``, step N ends no earlier than N step times after the start.
    """
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    if TRACKING:
        log_param("learning_rate", args.learning_rate)
        log_param("batch_size", args.batch_size)
    for step in range(1, args.steps + 1):
        params = store.pull()
        rows = rng.choice(len(data.y), size=min(args.batch_size, len(data.y)), replace=False)
        loss, gradients = loss_and_gradients(params, Dataset(data.x[rows], data.y[rows]))
        store.push(gradients)
        if TRACKING:
            log_metric("loss", loss, step=step)
        if step % args.log_every == 0 or step == args.steps:
            train_accuracy = accuracy(params, data)
            print(f"step {step} loss {loss:.3f} accuracy {train_accuracy:.3f}", flush=True)
            if TRACKING:
                log_metric("accuracy", train_accuracy, step=step)
        ahead = started + step * args.step_time - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def run_worker(task: Task, args: argparse.Namespace) -> int:
    """Train on this worker's shard; the chief then reports the test accuracy."""
    assert task.ps_address is not None
    train_set, test_set = load_split()
    store = RemoteStore(task.ps_address, task.index, args.connect_timeout, args.ps_timeout)
    print(f"worker {task.index}: connected to the ps at {task.ps_address}", flush=True)
    train(store, shard(train_set, task.index, task.num_workers), args, SEED + 1 + task.index)
    if task.is_chief:
        store.wait_for_others()
    print(f"final accuracy: {accuracy(store.pull(), test_set):.3f}", flush=True)
    store.done()
    return 0


def run_local(args: argparse.Namespace) -> int:
    """Train in this process alone and report the test accuracy."""
    train_set, test_set = load_split()
    store = LocalStore(args.learning_rate)
    train(store, train_set, args, SEED + 1)
    print(f"final accuracy: {accuracy(store.pull(), test_set):.3f}", flush=True)
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=300, help="training steps per worker")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per minibatch")
    parser.add_argument("--learning-rate", type=float, default=0.5, help="SGD step size")
    parser.add_argument("--log-every", type=int, default=20, help="print progress every N steps")
    parser.add_argument(
        "--step-time",
        type=float,
        default=0.0,
        help="seconds a step takes at least, to watch the training (default: flat out)",
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=60.0, help="seconds a worker waits for the ps"
    )
    parser.add_argument(
        "--ps-timeout", type=float, default=600.0, help="seconds the ps serves before giving up"
    )
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "log_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.step_time <= 60:
        parser.error(f"--step-time must be between 0 and 60 seconds, got {args.step_time}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run this process's part of the job, as ``TF_CONFIG`` describes it."""
    args = parse_args(argv)
    task = parse_tf_config(os.environ.get("TF_CONFIG"))
    if task.role == "ps":
        return run_ps(task, args.learning_rate, args.ps_timeout)
    if task.role == "worker":
        try:
            return run_worker(task, args)
        except OSError as error:  # ConnectionError, TimeoutError: the ps went away or hung
            print(f"worker {task.index}: lost the ps: {error}", file=sys.stderr, flush=True)
            return 1
    if task.role == "evaluator":
        print("evaluator: the chief evaluates in this example; nothing to do", flush=True)
        return 0
    return run_local(args)


if __name__ == "__main__":
    sys.exit(main())

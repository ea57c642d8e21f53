"""A process that logs and reads metrics on request and times it: ours or MLflow's.

Run as a script (``python -I track_worker.py IMPL URL EXAMPLE [REPO]``) so that the same file
drives ``submarine.log_metric`` in this repository's environment and MLflow's
``mlflow.log_metric`` in a virtualenv of MLflow's own. It reads one JSON command a line on
stdin and answers one JSON line on stdout; the timing happens here. ``EXAMPLE`` is the
parameter-server example's folder (its ``train.py`` gives the training step of the loops).

* ``ours``   -- ``submarine.log_metric`` into the experiment ``JOB_ID`` of the local server at
  ``SUBMARINE_TRACKING_URI`` (URL), read back with ``ExperimentClient.get_metrics`` /
  ``iter_metrics``;
* ``mlflow`` -- ``mlflow.log_metric`` into a run of its own on the MLflow tracking server at
  URL, ``synchronous=True`` (``mode: sync``) or ``False`` (``mode: async``, then
  ``mlflow.flush_async_logging()``), read back with ``MlflowClient.get_metric_history``.

Commands (``n`` calls or steps; every timed figure ends when all that was logged has been
handed to the server, the final flush included):

* ``calls``: ``n`` calls of ``log_metric("loss", value, step=i)``: ``seconds`` per call,
  ``call_seconds`` per call until the last call returned (before the flush), ``cpu``
  seconds of this process per call;
* ``loop``: a training loop of ``n`` steps logging its loss each step (``mode: none``: not
  logging): ``seconds`` for the loop;
* ``fill``: ``n`` values of ``loss`` into a target of their own, the fastest way (ours:
  ``log_metric`` into this process's experiment; MLflow: ``log_batch`` into a new run): its
  ``target``;
* ``read``: every value of ``loss`` of ``target``, read back: ``seconds`` and ``count``;
* ``stored``: how many values this process's own target holds (``stored``) and how many
  it logged there (``logged``).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

KEY = "loss"


class Side:
    """One tracking library."""

    logged = 0
    """How many values this process has logged into its own target (fills not counted)."""

    def log(self, step: int, value: float, mode: str) -> None:
        """Log one value of ``loss``."""
        raise NotImplementedError

    def flush(self, mode: str) -> None:
        """Wait until everything logged has been handed to the server."""
        raise NotImplementedError

    def fill(self, n: int) -> str:
        """Log ``n`` values into a target of their own; the target."""
        raise NotImplementedError

    def read(self, target: str, how: str) -> int:
        """Read every value of ``loss`` of ``target``; how many."""
        raise NotImplementedError

    def stored(self) -> int:
        """How many values of ``loss`` this process's own target holds."""
        raise NotImplementedError


class Ours(Side):
    """``submarine.log_metric``, to the local server that ``SUBMARINE_TRACKING_URI`` names."""

    def __init__(self, url: str) -> None:
        import os

        import submarine
        from submarine import ExperimentClient, tracking

        self.submarine = submarine
        self.tracking = tracking
        self.experiment = os.environ["JOB_ID"]
        self.client = ExperimentClient(url, timeout=300.0)

    def log(self, step: int, value: float, mode: str) -> None:
        self.submarine.log_metric(KEY, value, step=step)

    def flush(self, mode: str) -> None:
        self.tracking.flush()

    def fill(self, n: int) -> str:
        for step in range(n):
            self.submarine.log_metric(KEY, 1.0 / (step + 1), step=step)
        self.tracking.flush()
        return self.experiment

    def read(self, target: str, how: str) -> int:
        if how == "iter":
            return sum(1 for _ in self.client.iter_metrics(target, key=KEY))
        return len(self.client.get_metrics(target))

    def stored(self) -> int:
        return len(self.client.get_metrics(self.experiment))


class Mlflow(Side):
    """``mlflow.log_metric`` in a run of this process's own."""

    def __init__(self, url: str) -> None:
        import logging

        import mlflow

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        self.mlflow = mlflow
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("tracking-bench")
        self.run = mlflow.start_run()
        self.client = mlflow.MlflowClient(url)

    def log(self, step: int, value: float, mode: str) -> None:
        self.mlflow.log_metric(KEY, value, step=step, synchronous=mode == "sync")

    def flush(self, mode: str) -> None:
        if mode == "async":
            self.mlflow.flush_async_logging()

    def fill(self, n: int) -> str:
        from mlflow.entities import Metric

        run = self.client.create_run(self.run.info.experiment_id)
        now = int(time.time() * 1000)
        values = [Metric(KEY, 1.0 / (step + 1), now, step) for step in range(n)]
        for start in range(0, n, 1000):  # log_batch's limit
            self.client.log_batch(run.info.run_id, metrics=values[start : start + 1000])
        return str(run.info.run_id)

    def read(self, target: str, how: str) -> int:
        return len(self.client.get_metric_history(target, KEY))

    def stored(self) -> int:
        return len(self.client.get_metric_history(self.run.info.run_id, KEY))


SIDES = {"ours": Ours, "mlflow": Mlflow}


class Loop:
    """The parameter-server example's training step (a softmax regression of the digits,
    a minibatch of 32), as the goal-11 loop runs it."""

    def __init__(self, example: str) -> None:
        sys.path.insert(0, example)
        import numpy as np
        from train import Dataset, init_params, load_split, loss_and_gradients

        self.Dataset = Dataset
        self.init_params = init_params
        self.step_of = loss_and_gradients
        self.train_set, _ = load_split()
        rng = np.random.default_rng(0)
        self.batches = [
            rng.choice(len(self.train_set.y), size=32, replace=False) for _ in range(64)
        ]

    def run(self, side: Side, steps: int, mode: str) -> float:
        """Seconds for ``steps`` steps, logging each step's loss unless ``mode`` is none."""
        data = self.train_set
        params = self.init_params()
        start = time.perf_counter()
        for step in range(steps):
            rows = self.batches[step % len(self.batches)]
            loss, grads = self.step_of(params, self.Dataset(data.x[rows], data.y[rows]))
            params = [p - 0.5 * g for p, g in zip(params, grads, strict=True)]
            if mode != "none":
                side.log(step, loss, mode)
        if mode != "none":
            side.flush(mode)
        return time.perf_counter() - start


def handle(side: Side, loop: Loop, command: dict[str, Any]) -> dict[str, Any]:
    """Run one command; what it measured."""
    op = command["op"]
    n = int(command.get("n", 1))
    mode = str(command.get("mode", "sync"))
    if op in ("calls", "loop") and mode != "none":
        side.logged += n
    if op == "stored":
        return {"stored": side.stored(), "logged": side.logged}
    if op == "calls":
        cpu = time.process_time()
        start = time.perf_counter()
        for step in range(n):
            side.log(step, 0.5, mode)
        returned = time.perf_counter()
        side.flush(mode)
        end = time.perf_counter()
        return {
            "seconds": (end - start) / n,
            "call_seconds": (returned - start) / n,
            "cpu": (time.process_time() - cpu) / n,
        }
    if op == "loop":
        return {"seconds": loop.run(side, n, mode)}
    if op == "fill":
        return {"target": side.fill(n)}
    if op == "read":
        start = time.perf_counter()
        count = side.read(command["target"], str(command.get("how", "list")))
        return {"seconds": time.perf_counter() - start, "count": count}
    raise ValueError(f"unknown op {op!r}: use calls, loop, fill or read")


def main() -> None:
    """Set up the side named on the command line, then serve commands."""
    impl, url, example = sys.argv[1], sys.argv[2], sys.argv[3]
    if len(sys.argv) > 4:
        sys.path.insert(0, sys.argv[4])
    out, sys.stdout = sys.stdout, sys.stderr  # what the libraries print is not an answer
    side = SIDES[impl](url)
    loop = Loop(example)
    out.write(json.dumps({"ready": impl}) + "\n")
    out.flush()
    for line in sys.stdin:
        command: dict[str, Any] = json.loads(line)
        if command.get("op") == "quit":
            break
        try:
            answer = handle(side, loop, command)
        except Exception as exc:  # report to the parent, which raises
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()

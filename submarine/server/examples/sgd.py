"""A small training run in the standard library alone, that the example templates run:
stochastic gradient descent on a synthetic dataset, logging its loss (and accuracy) per
epoch with :func:`submarine.tracking.log_metric`, so the workbench draws its curves.

``--task regression`` fits ``y = 3x - 2`` (plus noise) with a line; ``--task
classification`` separates two Gaussian clouds with logistic regression. Each worker of a
TensorFlow-style job (``TF_CONFIG``) trains on its own shard of the data, on its own: the
workbench shows one curve per worker. A loss that is no longer a finite number (a learning
rate too large) fails the run, saying so.

Run it by hand (metrics are then only printed)::

    python -m submarine.server.examples.sgd --task regression --learning-rate 0.05 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final

from submarine.tracking import TrackingError, log_metric, log_param

__all__ = ["main"]

SAMPLES: Final = 512
"""Examples in the whole dataset (shared out among the workers)."""
SEED: Final = 7
"""The dataset's seed: every run sees the same data."""

Example = tuple[tuple[float, ...], float]
"""Features and target of one example."""


def _worker() -> tuple[int, int]:
    """This worker's index and the number of workers, from ``TF_CONFIG`` (0 of 1 without)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        workers = len(config.get("cluster", {}).get("worker", [])) or 1
        task = config.get("task", {})
        index = int(task.get("index", 0)) if task.get("type", "worker") == "worker" else 0
    except (ValueError, TypeError, AttributeError):
        return 0, 1
    return min(index, workers - 1), workers


def dataset(task: str) -> list[Example]:
    """The synthetic dataset of ``task``, the same on every run."""
    rng = random.Random(SEED)
    examples: list[Example] = []
    for _ in range(SAMPLES):
        if task == "regression":
            x = rng.uniform(-2.0, 2.0)
            examples.append(((x,), 3.0 * x - 2.0 + rng.gauss(0.0, 0.5)))
        else:
            label = float(rng.random() < 0.5)
            centre = 0.75 if label else -0.75
            point = (rng.gauss(centre, 1.0), rng.gauss(centre, 1.0))
            examples.append((point, label))
    return examples


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _predict(task: str, weights: list[float], features: tuple[float, ...]) -> float:
    z = weights[-1] + sum(w * x for w, x in zip(weights, features, strict=False))
    return z if task == "regression" else _sigmoid(z)


def _loss(task: str, weights: list[float], data: Sequence[Example]) -> float:
    total = 0.0
    for features, target in data:
        guess = _predict(task, weights, features)
        if task == "regression":
            total += (guess - target) ** 2
        else:
            guess = min(max(guess, 1e-12), 1 - 1e-12)
            total -= target * math.log(guess) + (1 - target) * math.log(1 - guess)
    return total / len(data)


def _accuracy(weights: list[float], data: Sequence[Example]) -> float:
    right = sum((_predict("classification", weights, f) >= 0.5) == (t >= 0.5) for f, t in data)
    return right / len(data)


def _tracker(params: dict[str, object]) -> Callable[..., None]:
    """Log ``params``; ``log_metric``, or a no-op when this process is not a replica of a
    server (nor told to track to a file)."""
    try:
        for key, value in params.items():
            log_param(key, value)
    except TrackingError:
        print("(not in an experiment: metrics are only printed)", flush=True)
        return lambda *args, **kwargs: None
    return log_metric


def train(task: str, learning_rate: float, epochs: int, batch_size: int, step_time: float) -> int:
    """Train, printing and logging each epoch; the exit status (1 when the loss diverged)."""
    index, workers = _worker()
    data = dataset(task)[index::workers]
    metric = _tracker(
        {"task": task, "learning_rate": learning_rate, "epochs": epochs, "batch_size": batch_size}
    )
    rng = random.Random(SEED + index)
    weights = [0.0] * (len(data[0][0]) + 1)
    print(f"worker {index} of {workers}: {len(data)} examples, task {task}", flush=True)
    for epoch in range(1, epochs + 1):
        rng.shuffle(data)
        for start in range(0, len(data), batch_size):
            batch = data[start : start + batch_size]
            gradient = [0.0] * len(weights)
            for features, target in batch:
                error = _predict(task, weights, features) - target
                for i, x in enumerate(features):
                    gradient[i] += error * x
                gradient[-1] += error
            scale = (2.0 if task == "regression" else 1.0) * learning_rate / len(batch)
            weights = [w - scale * g for w, g in zip(weights, gradient, strict=True)]
        try:
            loss = _loss(task, weights, data)
        except OverflowError:
            loss = math.inf
        if not math.isfinite(loss):
            print(
                f"epoch {epoch}: the loss diverged (learning rate {learning_rate} is too "
                "large): lower it",
                file=sys.stderr,
                flush=True,
            )
            return 1
        line = f"epoch {epoch} loss {loss:.4f}"
        metric("loss", loss, step=epoch)
        if task == "classification":
            accuracy = _accuracy(weights, data)
            metric("accuracy", accuracy, step=epoch)
            line += f" accuracy {accuracy:.3f}"
        print(line, flush=True)
        if step_time > 0:
            time.sleep(step_time)
    shown = ", ".join(f"{w:.3f}" for w in weights)
    print(f"final loss {loss:.4f} weights [{shown}]", flush=True)
    return 0


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def read(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not positive")
        return value

    return read


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags and train; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m submarine.server.examples.sgd")
    parser.add_argument("--task", choices=("regression", "classification"), required=True)
    parser.add_argument("--learning-rate", type=_positive(float), default=0.05)
    parser.add_argument("--epochs", type=_positive(int), default=30)
    parser.add_argument("--batch-size", type=_positive(int), default=16)
    parser.add_argument(
        "--step-time", type=float, default=0.0, help="seconds to pause after each epoch"
    )
    args = parser.parse_args(argv)
    return train(
        args.task, args.learning_rate, int(args.epochs), int(args.batch_size), args.step_time
    )


if __name__ == "__main__":
    sys.exit(main())

"""Data-parallel training of a small digit classifier with PyTorch DistributedDataParallel on CPU.

Every process runs this same script. The PyTorch training operator (and Submarine's local server)
give each one ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE`` and ``RANK``; the processes join a
``gloo`` process group through ``init_method="env://"``, each trains on its own shard of
scikit-learn's bundled ``load_digits`` data, and DDP averages the gradients on every step.
Rank 0 prints ``epoch N loss L accuracy A`` lines, then ``final accuracy: 0.xxx`` on a held-out
test split. Without ``WORLD_SIZE`` (or with ``WORLD_SIZE=1``) it trains alone, undistributed.

PyTorch is an optional dependency: ``pip install torch``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.parallel import DistributedDataParallel

try:  # the workbench's charts: metrics go to the Submarine server that runs this replica
    from submarine import log_metric
except ImportError:  # the example also runs on its own, without the SDK
    log_metric = None

TRACKING = log_metric is not None and bool(
    os.environ.get("SUBMARINE_TRACKING_URI") or os.environ.get("SUBMARINE_TRACKING_FILE")
)
"""Whether metrics are recorded: in a replica of a Submarine server, or to a file if asked."""

SEED = 0


def load_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Load ``load_digits`` as tensors: train features, train labels, test features, test labels."""
    digits = load_digits()
    x = np.asarray(digits.data, dtype=np.float32) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=SEED, stratify=y
    )
    return (
        torch.from_numpy(x_train),
        torch.from_numpy(y_train),
        torch.from_numpy(x_test),
        torch.from_numpy(y_test),
    )


def make_model() -> nn.Module:
    """A small multilayer perceptron: 64 pixels -> 64 hidden units -> 10 classes."""
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` that ``model`` classifies as ``y``."""
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=10, help="passes over each shard")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per minibatch")
    parser.add_argument("--learning-rate", type=float, default=0.1, help="SGD step size")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Join the process group the environment describes, train, and report the test accuracy."""
    args = parse_args(argv)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world_size > 1
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    if distributed:
        dist.init_process_group(
            "gloo",
            init_method="env://",
            world_size=world_size,
            rank=rank,
            timeout=timedelta(seconds=60),
        )
        print(f"rank {rank}/{world_size}: joined the process group", flush=True)

    x_train, y_train, x_test, y_test = load_split()
    # Equal-sized shards, so every rank takes the same number of steps (DDP needs that).
    per_rank = len(y_train) // world_size
    x_shard = x_train[rank::world_size][:per_rank]
    y_shard = y_train[rank::world_size][:per_rank]

    net = make_model()
    model: nn.Module = DistributedDataParallel(net) if distributed else net
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED + rank)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(per_rank, generator=generator)
        total = 0.0
        for start in range(0, per_rank, args.batch_size):
            rows = order[start : start + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_shard[rows]), y_shard[rows])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        if TRACKING:
            log_metric("loss", total / per_rank, step=epoch)
        if rank == 0:
            train_accuracy = accuracy(net, x_shard, y_shard)
            mean_loss = total / per_rank
            print(f"epoch {epoch} loss {mean_loss:.3f} accuracy {train_accuracy:.3f}", flush=True)
            if TRACKING:
                log_metric("accuracy", train_accuracy, step=epoch)

    if rank == 0:
        print(f"final accuracy: {accuracy(net, x_test, y_test):.3f}", flush=True)
    if distributed:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

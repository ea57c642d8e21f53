"""Ratio benchmarks of submarine-sdk against baselines measured in the same run.

``make bench`` (``python -m benchmarks``) runs every area below and writes ``RESULTS.md``
and ``results.png`` here. Each area is a module with a ``run(ctx)`` function; the goals
are numbered as in the benchmarks issue.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.context import Context

__all__ = ["AREAS", "GOAL_AREAS"]


def _area(module: str) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        importlib.import_module(f"benchmarks.{module}").run(ctx)

    run.__name__ = module
    run.__doc__ = f"Run benchmarks.{module}."
    return run


AREAS: dict[str, Callable[[Context], None]] = {
    "imports": _area("bench_imports"),
    "validation": _area("bench_validation"),
    "client": _area("bench_client"),
    "cli": _area("bench_cli"),
    "runner": _area("bench_runner"),
    "scale": _area("bench_scale"),
    "logs": _area("bench_logs"),
    "tracking": _area("bench_tracking"),
    "mlflow": _area("bench_mlflow"),
    "ray": _area("bench_ray"),
    "workbench": _area("bench_workbench"),
}
"""Every area, in the order a full run takes them."""

GOAL_AREAS: dict[str, str] = {
    "1": "client",
    "2": "client",
    "3": "client",
    "4": "imports",
    "5": "validation",
    "5b": "cli",
    "6": "runner",
    "7": "runner",
    "8": "scale",
    "9": "logs",
    "10": "scale",
    "11": "tracking",
    "11m": "mlflow",
    "12": "ray",
    "13": "workbench",
}
"""Which area measures each goal of the issue (10 is measured by scale and logs)."""

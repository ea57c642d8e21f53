"""Goals 8 and 10 (first half): list latency and server memory as the store grows.

One data directory is filled in steps (100, 1k, 10k, 100k finished experiments, inserted
through the Store while no server runs); at each step a server starts on it and our client,
raw httpx and the prototype list everything, in rotating order. The curves go into the plot;
the per-experiment cost at the largest size against that at 1k says whether the cost grows
linearly in what is returned. The server's RSS is read idle and after the lists.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import Goal, Pair, Row, Series, Stats, rotate
from benchmarks.prototypes.server_list import (
    current_envelope,
    spliced_envelope,
    streamed_envelope,
)
from benchmarks.servers import Server, Worker, fill_store, peak_rss_of
from submarine.server.settings import Settings

__all__ = ["run"]

_IMPLS = ("ours", "raw", "proto")
_LABELS = {
    "ours": "our client",
    "raw": "raw httpx + json.loads",
    "proto": "prototype lazy list",
}


_HTTP_PANEL = "list over HTTP (client + server)"
_SERVER_PANEL = "server alone: building the list answer (in process)"
_SERVER_LABELS = {
    "current": "current code",
    "paused": "current code, collector paused",
    "spliced": "prototype: spliced rows",
    "streamed": "prototype: spliced rows, streamed",
}


def _server_side(ctx: Context, data: Path, size: int, series: dict[str, Series]) -> None:
    """Time building the list body the server's way and the prototypes' ways, in process."""
    database = Settings(data_dir=data, workdir=data).database
    current = current_envelope(database)
    spliced = spliced_envelope(database)
    streamed = b"".join(streamed_envelope(database))
    if not json.loads(current) == json.loads(spliced) == json.loads(streamed):
        raise RuntimeError(f"the spliced list of {size:,} experiments differs from the server's")
    del current, spliced, streamed
    repeats = ctx.size(2 if size >= 100_000 else 3 if size >= 10_000 else 7, 1)
    ctx.log(f"scale: building the list body of {size:,} in process x {repeats}")
    stats = rotate(
        [
            partial(_timed, current_envelope, database),
            partial(_timed, partial(current_envelope, pause_gc=True), database),
            partial(_timed, spliced_envelope, database),
            partial(_timed, _consume, database),
        ],
        warmup=0,
        repeats=repeats,
    )
    for name, got in zip(_SERVER_LABELS, stats, strict=True):
        series[name].points.append((float(size), got))


def _consume(database: Path) -> bytes:
    """Every chunk of the streamed answer, as a server would send them (only their count is
    kept, as a socket would keep nothing)."""
    total = 0
    for chunk in streamed_envelope(database):
        total += len(chunk)
    return b"%d" % total


def _timed(build: Callable[[Path], bytes], database: Path) -> float:
    start = time.perf_counter()
    build(database)
    return time.perf_counter() - start


def _growth(series: Series, reference: int, largest: int) -> tuple[Stats, Stats, Stats]:
    """Per-item cost at the largest size, at the reference size, and their ratio samples."""
    points = dict(series.points)
    small = points[float(reference)]
    big = points[float(largest)]
    per_small = small.median / reference
    ratio = Stats.of([s / largest / per_small for s in big.samples])
    return big.scaled(1.0 / largest), small.scaled(1.0 / reference), ratio


def run(ctx: Context) -> None:
    """List with growing stores; record the curves, the growth and the server's memory."""
    sizes = [100, 1000, 10_000, 100_000] if not ctx.tiny else [10, 40]
    series = {
        impl: Series(_LABELS[impl], "stored experiments", "seconds per list", panel=_HTTP_PANEL)
        for impl in _IMPLS
    }
    server_series = {
        name: Series(label, "stored experiments", "seconds per list body", panel=_SERVER_PANEL)
        for name, label in _SERVER_LABELS.items()
    }
    empty_dir = ctx.scratch("scale-empty")
    with Server(empty_dir) as server:
        empty_rss = Stats.of([server.rss()])
    data = ctx.scratch("scale")
    stored = 0
    idle: dict[int, int] = {}
    peak: dict[int, int] = {}
    for size in sizes:
        ctx.log(f"scale: filling the store to {size:,} experiments")
        fill_store(data, size - stored, start=stored)
        stored = size
        repeats = 3 if size >= 100_000 else 5 if size >= 10_000 else 9
        repeats = ctx.size(repeats, 1)
        with Server(data) as server:
            idle[size] = server.rss()
            workers = [Worker(impl, server.url) for impl in _IMPLS]
            try:
                samples: dict[str, list[float]] = {impl: [] for impl in _IMPLS}
                if size < 100_000:
                    for worker in workers:  # warm-up
                        worker.call(op="list", n=1)
                ctx.log(f"scale: listing {size:,} experiments x {repeats}")
                for index in range(repeats):
                    order = workers[index % 3 :] + workers[: index % 3]
                    for worker in order:
                        answer = worker.call(op="list", n=1)
                        if answer["count"] != size:
                            raise RuntimeError(
                                f"{worker.impl} listed {answer['count']} experiments, not {size}"
                            )
                        samples[worker.impl].append(float(answer["seconds"]))
                peak[size] = peak_rss_of(server.pid)
            finally:
                for worker in workers:
                    worker.close()
        for impl in _IMPLS:
            series[impl].points.append((float(size), Stats.of(samples[impl])))
        _server_side(ctx, data, size, server_series)
    ctx.series.extend(series.values())
    ctx.series.extend(server_series.values())

    reference = 1000 if 1000 in sizes else sizes[0]
    largest = sizes[-1]
    for key, item, goal in (
        ("8.1", series["ours"], Goal(1.25)),
        ("8.2", series["raw"], None),
        ("8.3", series["proto"], None),
        ("8.4", server_series["current"], None),
        ("8.5", server_series["paused"], None),
        ("8.6", server_series["spliced"], None),
        ("8.7", server_series["streamed"], None),
    ):
        big, small, ratio = _growth(item, reference, largest)
        where = "server alone" if item.panel == _SERVER_PANEL else "over HTTP"
        ctx.add(
            Row(
                key,
                f"list cost per experiment at {largest:,} vs {reference:,}, {item.name} ({where})",
                f"its own cost per experiment at {reference:,}",
                "s",
                big,
                small,
                ratio,
                goal,
                note=(
                    "linear growth means a ratio near 1 (goal: within 25%)"
                    if goal is not None
                    else ""
                ),
            )
        )
    points = {name: dict(item.points)[float(largest)] for name, item in server_series.items()}
    ctx.add(
        Row.paired(
            "8.8",
            f"server: list answer of {largest:,}, prototype spliced and streamed",
            "current code",
            Pair(points["streamed"], points["current"]),
            note="benchmarks/prototypes/server_list.py, not yet in the server",
        )
    )
    ctx.add(
        Row(
            "10.1",
            f"server RSS, {largest:,} experiments stored (idle; peak after the lists in note)",
            "empty server",
            "B",
            Stats.of([idle[largest]]),
            empty_rss,
            Stats.of([idle[largest] / empty_rss.median]),
            None,
            note=f"peak RSS while listing {largest:,}: {peak[largest] / 2**20:.0f} MiB; "
            + ", ".join(f"{size:,}: {idle[size] / 2**20:.0f} MiB idle" for size in sizes),
        )
    )

"""Goals 8 and 10 (first half): list latency and server memory as the store grows.

One data directory is filled in steps (100, 1k, 10k, 100k finished experiments, inserted
through the Store while no server runs); at each step a server starts on it and our client
and raw httpx list everything, in rotating order. The server's list path is also timed in
process, against the whole-answer-in-memory way it used to take and against SQLite alone
fetching the same rows. The curves go into the plot; the per-experiment cost at the largest
size against that at 1k says whether the cost grows linearly in what is returned. The
server's RSS is read idle and after the lists.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import Goal, Pair, Row, Series, Stats, rotate
from benchmarks.servers import Server, Worker, fill_store, peak_rss_of
from submarine.server.api.experiments import LIST_BATCH
from submarine.server.api.rest import envelope
from submarine.server.api.wire import ListAnswer, experiment_payload
from submarine.server.settings import Settings
from submarine.server.store.experiments import Store

__all__ = ["run"]

_IMPLS = ("ours", "raw")
_LABELS = {
    "ours": "our client",
    "raw": "raw httpx + json.loads",
}


_HTTP_PANEL = "list over HTTP (client + server)"
_SERVER_PANEL = "server alone: building the list answer (in process)"
_SERVER_LABELS = {
    "streamed": "the server's list answer (streamed from the store)",
    "whole": "the whole answer in memory (the list path before streaming)",
    "sqlite": "SQLite alone: the same rows fetched",
}


def _streamed(database: Path) -> bytes:
    """Every piece of the answer the server streams, read to the end as the server does
    (only the size is kept, as a socket keeps nothing)."""
    store = Store(database)
    try:
        answer = ListAnswer(store.scan(None, batch=LIST_BATCH))
        total = 0
        while not answer.done:
            total += len(answer.read())
        return b"%d" % total
    finally:
        store.close()


def _whole(database: Path) -> bytes:
    """The answer built at once: every record parsed, made a payload, and dumped."""
    store = Store(database)
    try:
        return bytes(envelope(result=[experiment_payload(r) for r in store.list()]).body)
    finally:
        store.close()


def _sqlite(database: Path) -> bytes:
    """The floor of any server on this store: the rows fetched, nothing made of them."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT * FROM experiments ORDER BY seq").fetchall()
    return b"%d" % len(rows)


def _whole_text(database: Path) -> bytes:
    """The streamed answer joined, to compare with the whole one."""
    store = Store(database)
    try:
        answer = ListAnswer(store.scan(None, batch=LIST_BATCH))
        pieces = []
        while not answer.done:
            pieces.append(answer.read())
        return b"".join(pieces)
    finally:
        store.close()


def _server_side(ctx: Context, data: Path, size: int, series: dict[str, Series]) -> None:
    """Time the server's list path in process, against the old way and SQLite alone."""
    database = Settings(data_dir=data, workdir=data).database
    if json.loads(_whole_text(database)) != json.loads(_whole(database)):
        raise RuntimeError(f"the streamed list of {size:,} experiments differs from the whole")
    repeats = ctx.size(4 if size >= 10_000 else 9, 1)  # 100k: ~15 s a repeat for the three
    ctx.log(f"scale: building the list body of {size:,} in process x {repeats}")
    stats = rotate(
        [partial(_timed, build, database) for build in (_streamed, _whole, _sqlite)],
        warmup=0,
        repeats=repeats,
    )
    for name, got in zip(_SERVER_LABELS, stats, strict=True):
        series[name].points.append((float(size), got))


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
                    shift = index % len(workers)
                    order = workers[shift:] + workers[:shift]
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
        ("8.3", server_series["streamed"], Goal(1.25)),
        ("8.4", server_series["whole"], None),
        ("8.5", server_series["sqlite"], None),
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
            "8.6",
            f"server: list answer of {largest:,}, streamed from the store",
            "the whole answer in memory (the list path before streaming)",
            Pair(points["streamed"], points["whole"]),
        )
    )
    ctx.add(
        Row.paired(
            "8.7",
            f"server: list answer of {largest:,}, streamed from the store",
            "SQLite alone fetching the same rows",
            Pair(points["streamed"], points["sqlite"]),
            note="what the answer costs beyond reading the store",
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

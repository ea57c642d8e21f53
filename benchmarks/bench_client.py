"""Goals 1, 2 and 3: our client per call, against raw httpx and against the upstream client.

One local server holds 1,000 finished experiments (inserted through the Store before it
starts), another 10,000. Every implementation runs in its own worker process (see
``worker.py``), so the timing never includes the parent's work; samples of candidate and
baseline alternate. The list decoding is also measured offline (no HTTP), to show where
the time goes.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.context import Context
from benchmarks.harness import Goal, Pair, Row, Stats, measure_pair, rotate
from benchmarks.servers import BENCH_SPEC, Server, Worker, fill_store

__all__ = ["envelope_bytes", "run"]


def _rotate(workers: dict[str, Worker], repeats: int, **command: Any) -> dict[str, Stats]:
    """One sample of ``command`` from each worker per repeat, in rotating order."""
    names = list(workers)
    stats = rotate(
        [partial(workers[name].seconds, **command) for name in names],
        warmup=1,
        repeats=repeats,
    )
    return dict(zip(names, stats, strict=True))


_RAW = "raw httpx + `json.loads`"
_UP = "upstream `ExperimentClient`"
_FLOOR_NOTE = "the floor: no client on httpx can beat this ratio (httpx vs upstream's urllib3)"


def envelope_bytes(data_dir: Path, url: str) -> bytes:
    """The list envelope exactly as the server sends it."""
    import httpx

    return httpx.get(f"{url}/api/v1/experiment", timeout=300).content


def _offline(ctx: Context, key: str, body: bytes, count: int) -> None:
    """Decoding only: the client's decoder against json.loads of the same bytes."""
    import httpx

    from submarine.client._decode import decode_experiments

    answer = httpx.Response(200, content=body, request=httpx.Request("GET", "http://bench/"))
    repeats = ctx.size(9, 2)
    inner = max(1, ctx.size(20_000 // count, 1))

    pair = measure_pair(
        lambda: decode_experiments(answer),
        lambda: json.loads(body),
        repeats=repeats,
        inner=inner,
    )
    ctx.add(
        Row.paired(
            f"{key}.decode",
            f"decoding only, {count:,} experiments: the client's decoder",
            "`json.loads` of the same bytes",
            pair,
            note="no HTTP: the envelope checked, items validated when first read",
        )
    )


def run(ctx: Context) -> None:
    """Get, list and create per call on local servers with 1,000 and 10,000 experiments."""
    small = ctx.size(1000, 30)
    large = ctx.size(10_000, 60)
    repeats = ctx.size(21, 2)
    upstream = ctx.upstream()

    ctx.log(f"client: filling a store with {small:,} experiments")
    data = ctx.scratch("client-small")
    ids = fill_store(data, small)
    with Server(data) as server:
        url = server.url
        workers = {
            "ours": Worker("ours", url),
            "raw": Worker("raw", url),
            "up": Worker("upstream", url, python=upstream),
        }
        try:
            target = ids[len(ids) // 2]
            ctx.log("client: get_experiment: ours, raw httpx, upstream")
            got = _rotate(workers, repeats, op="get", id=target, n=ctx.size(200, 5))
            what = "`get_experiment`, per call"
            ctx.add(Row.paired("1", what, _RAW, Pair(got["ours"], got["raw"]), goal=Goal(1.10)))
            ctx.add(Row.paired("3.1", what, _UP, Pair(got["ours"], got["up"]), goal=Goal(1.0)))
            ctx.add(
                Row.paired(
                    "3.1f",
                    "raw httpx GET + `json.loads`",
                    _UP,
                    Pair(got["raw"], got["up"]),
                    note=_FLOOR_NOTE,
                )
            )

            ctx.log(f"client: list_experiments ({small:,}): ours, raw, upstream")
            got = _rotate(workers, repeats, op="list", n=ctx.size(10, 1))
            what = f"`list_experiments`, {small:,} experiments"
            ctx.add(Row.paired("2.1", what, _RAW, Pair(got["ours"], got["raw"]), goal=Goal(1.0)))
            ctx.add(Row.paired("3.2", what, _UP, Pair(got["ours"], got["up"]), goal=Goal(1.0)))

            ctx.log("client: create_experiment: ours, raw httpx, upstream")
            got = _rotate(workers, ctx.size(15, 2), op="create", n=ctx.size(20, 2), spec=BENCH_SPEC)
            what = "`create_experiment`, per call"
            ctx.add(Row.paired("3.3", what, _UP, Pair(got["ours"], got["up"]), goal=Goal(1.0)))
            ctx.add(
                Row.paired(
                    "3.3f",
                    "raw httpx POST + `json.loads`",
                    _UP,
                    Pair(got["raw"], got["up"]),
                    note=_FLOOR_NOTE,
                )
            )
        finally:
            for worker in workers.values():
                worker.close()
        body_small = envelope_bytes(data, url)

    ctx.log(f"client: filling a store with {large:,} experiments")
    data = ctx.scratch("client-large")
    fill_store(data, large)
    with Server(data) as server:
        workers = {name: Worker(name, server.url) for name in ("ours", "raw")}
        try:
            ctx.log(f"client: list_experiments ({large:,}): ours, raw")
            got = _rotate(workers, ctx.size(9, 2), op="list", n=1)
        finally:
            for worker in workers.values():
                worker.close()
        what = f"`list_experiments`, {large:,} experiments"
        ctx.add(Row.paired("2.2", what, _RAW, Pair(got["ours"], got["raw"]), goal=Goal(1.0)))
        body_large = envelope_bytes(data, server.url)

    ctx.log("client: decoding offline")
    _offline(ctx, "2.1", body_small, small)
    _offline(ctx, "2.2", body_large, large)

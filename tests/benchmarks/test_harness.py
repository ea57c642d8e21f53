"""The benchmark harness: its statistics, pairing, ratios and reports, and a smoke run of
every benchmark area at tiny sizes (the figures are not checked: speed is never asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import AREAS, GOAL_AREAS
from benchmarks.__main__ import run_areas, select, write
from benchmarks.bench_mlflow import experiment_on
from benchmarks.context import Context
from benchmarks.harness import (
    Goal,
    Pair,
    Row,
    Series,
    Stats,
    alternate,
    format_value,
    measure,
    measure_pair,
    percentile,
    time_batch,
)
from benchmarks.report import BEGIN, END, markdown_table, render_block, text_table, update_results
from benchmarks.servers import REPO, Server, Worker

# -- statistics ----------------------------------------------------------------------------


def test_stats_median_min_max_p95() -> None:
    stats = Stats.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert stats.median == 3.0
    assert stats.minimum == 1.0
    assert stats.maximum == 5.0
    assert stats.count == 5
    assert stats.p95 == pytest.approx(4.8)


def test_stats_even_count_median_is_the_mean_of_the_middle_two() -> None:
    assert Stats.of([1.0, 2.0, 3.0, 10.0]).median == 2.5


def test_stats_needs_a_sample() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        Stats.of([])


def test_percentile_interpolates_and_checks_its_range() -> None:
    assert percentile([10.0, 20.0], 50) == 15.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0], 100) == 3.0
    with pytest.raises(ValueError, match="out of range"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_scaled_and_inverted() -> None:
    stats = Stats.of([0.5, 0.25])
    assert stats.scaled(2.0).samples == (1.0, 0.5)
    assert stats.inverted().samples == (2.0, 4.0)
    assert math.isinf(Stats.of([0.0]).inverted().samples[0])


# -- pairing and ratios --------------------------------------------------------------------


def test_pair_ratio_is_per_pair_of_samples() -> None:
    pair = Pair(Stats.of([2.0, 3.0, 9.0]), Stats.of([1.0, 3.0, 3.0]))
    assert pair.ratio.samples == (2.0, 1.0, 3.0)
    assert pair.ratio.median == 2.0


def test_pair_refuses_unequal_counts() -> None:
    with pytest.raises(ValueError, match="as many candidate samples"):
        Pair(Stats.of([1.0]), Stats.of([1.0, 2.0]))


def test_alternate_warms_up_then_flips_the_order_each_repeat() -> None:
    calls: list[str] = []

    def cand() -> float:
        calls.append("c")
        return 2.0

    def base() -> float:
        calls.append("b")
        return 1.0

    pair = alternate(cand, base, warmup=1, repeats=4)
    assert calls == ["c", "b", "c", "b", "b", "c", "c", "b", "b", "c"]
    assert pair.candidate.samples == (2.0, 2.0, 2.0, 2.0)
    assert pair.ratio.median == 2.0


def test_alternate_needs_a_repeat() -> None:
    with pytest.raises(ValueError, match="at least one repeat"):
        alternate(lambda: 1.0, lambda: 1.0, repeats=0)


def test_measure_counts_calls_and_times_per_call() -> None:
    counter = {"n": 0}

    def work() -> None:
        counter["n"] += 1

    stats = measure(work, warmup=2, repeats=3, inner=5)
    assert counter["n"] == 2 + 3 * 5
    assert stats.count == 3
    assert all(sample >= 0.0 for sample in stats.samples)


def test_measure_pair_ratio_sees_a_slower_candidate() -> None:
    def slow() -> int:
        return sum(range(20_000))

    def fast() -> int:
        return 1

    pair = measure_pair(slow, fast, warmup=1, repeats=3, inner=20)
    assert pair.ratio.count == 3
    assert pair.ratio.minimum > 1.0


def test_time_batch_needs_a_call() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        time_batch(lambda: None, 0)


# -- goals, rows and reports ---------------------------------------------------------------


ONE = Goal(1.0)


def _row(ratio: float, goal: Goal | None = ONE) -> Row:
    pair = Pair(Stats.of([ratio * 0.002]), Stats.of([0.002]))
    return Row.paired("1", "get", "raw httpx", pair, goal=goal)


def test_goal_on_ratio_and_on_value() -> None:
    assert _row(0.9).met is True
    assert _row(1.2).met is False
    assert _row(1.2).verdict == "MISSED"
    assert _row(1.2, goal=None).verdict == "report"
    value_row = Row(
        "6", "create to Succeeded", "-", "s", value=Stats.of([0.2]), goal=Goal(0.3, on="value")
    )
    assert value_row.met is True
    assert Goal(0.3, on="value").describe("s") == "<= 300 ms"
    assert Goal(1.1).describe("s") == "ratio <= 1.10"
    assert Goal(1.0).met_by(Row("x", "y", "z", "s")) is None


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.000412, "s", "412 µs"),
        (0.00123, "s", "1.23 ms"),
        (2.5, "s", "2.50 s"),
        (5100.0, "/s", "5.10k/s"),
        (48.0 * 2**20, "B", "48.0 MiB"),
        (0.934, "x", "0.93x"),
        (0.000312, "x", "0.00031x"),
        (0.00000312, "x", "0.0000031x"),
        (0.0123, "x", "0.01x"),
        (12.0, "B", "12 B"),
    ],
)
def test_format_value(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text  # type: ignore[arg-type]


def test_tables_show_every_row_with_its_verdict() -> None:
    rows = [_row(0.9), _row(1.5)]
    md = markdown_table(rows)
    assert md.count("\n") == 3
    assert "**met**" in md
    assert "**MISSED**" in md
    text = text_table(rows)
    assert "MISSED" in text
    assert "**" not in text
    assert "0.90x" in text


def test_results_file_keeps_what_is_outside_the_markers(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    block = render_block([_row(0.9)], [], machine=["CPU: test"], notes=["a note"])
    update_results(path, block)
    first = path.read_text(encoding="utf-8")
    assert "How to rerun" in first
    assert "CPU: test" in first
    assert "a note" in first
    assert "Goals met by the package as it is: 1 of 1." in first
    edited = first.replace(
        "## How to rerun", "## Findings\n\nhand-written analysis\n\n## How to rerun"
    )
    path.write_text(edited, encoding="utf-8")
    update_results(path, render_block([_row(1.5)], [], machine=["CPU: other"]))
    second = path.read_text(encoding="utf-8")
    assert "hand-written analysis" in second
    assert "CPU: other" in second
    assert "CPU: test" not in second
    assert "missed: #1." in second
    assert second.count(BEGIN) == 1
    assert second.count(END) == 1


def test_series_are_tabulated_with_per_item_cost() -> None:
    series = Series("list latency", "stored experiments", "seconds")
    series.points.append((1000.0, Stats.of([0.05])))
    block = render_block([], [series], machine=[])
    assert "| 1,000 | 50.0 ms (50.0 ms..50.0 ms) | 50.0 µs |" in block


def test_select_by_area_or_goal_number() -> None:
    assert select(None) == list(AREAS)
    assert select("5b,imports") == ["imports", "cli"]
    assert select("2,3") == ["client"]
    assert set(GOAL_AREAS.values()) <= set(AREAS)
    with pytest.raises(ValueError, match="unknown area 'nope'"):
        select("nope")


# -- every area at tiny sizes --------------------------------------------------------------


HEAVY_AREAS = ("mlflow",)
"""Areas left out of the tiny run: MLflow's venv is about 0.9 GB, installed on first use
(`make bench` runs it; its own side is checked by the test of the tracking worker below)."""


@pytest.mark.slow
def test_every_area_runs_at_a_tiny_size(tmp_path: Path) -> None:
    ctx = Context(
        tiny=True,
        work=tmp_path / "work",
        repo=REPO,
        upstream_work=REPO / "benchmarks" / ".work",
    )
    run_areas(ctx, [name for name in AREAS if name not in HEAVY_AREAS])
    assert ctx.errors == []
    keys = {row.key.split(".")[0] for row in ctx.rows}
    assert {"1", "2", "3", "4", "5", "5b", "6", "7", "8", "9", "10", "11", "11b", "12"} <= keys
    assert len(ctx.series) == 5
    assert all(len(item.points) == 2 for item in ctx.series)
    for row in ctx.rows:
        assert row.value is not None
    write(ctx, tmp_path / "out")
    results = (tmp_path / "out" / "RESULTS.md").read_text(encoding="utf-8")
    assert "| 5b.1 |" in results
    assert (tmp_path / "out" / "results.png").read_bytes().startswith(b"\x89PNG")
    raw = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert len(raw["rows"]) == len(ctx.rows)


@pytest.mark.slow
def test_the_tracking_worker_logs_loops_and_reads_back_through_our_client(
    tmp_path: Path,
) -> None:
    """Our side of the MLflow comparison (``track_worker.py``), against a local server."""
    with Server(tmp_path / "data") as server:
        experiment = experiment_on(server.url, "worker-check")
        env = {"JOB_ID": experiment, "SUBMARINE_TRACKING_URI": server.url}
        example = str(REPO / "examples" / "ps_digits")
        with Worker(
            "ours",
            server.url,
            script=REPO / "benchmarks" / "track_worker.py",
            args=[example, str(REPO)],
            env=env,
            log=tmp_path / "worker.log",
        ) as worker:
            calls = worker.call(op="calls", n=20)
            assert calls["seconds"] >= calls["call_seconds"] > 0
            assert worker.call(op="loop", n=15)["seconds"] > 0
            assert worker.call(op="loop", n=15, mode="none")["seconds"] > 0
            assert worker.call(op="stored") == {"stored": 35, "logged": 35}
            target = worker.call(op="fill", n=120)["target"]
            assert target == experiment
            assert worker.call(op="read", target=target, how="list")["count"] == 155
            assert worker.call(op="read", target=target, how="iter")["count"] == 155
            with pytest.raises(RuntimeError, match="unknown op 'nope'"):
                worker.call(op="nope")

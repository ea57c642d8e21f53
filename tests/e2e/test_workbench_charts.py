"""The workbench's charts in Chromium: the values under the cursor, smoothing, zoom and its
reset, a log scale, the x axis by step, relative or wall time, the last/min/max table; a key
of a million points drawn (thinned by the server); comparing two runs of one name, kept
apart, with their params and last values side by side.

Metrics are added over HTTP (``/api/metric/add``), as replicas send them, with times of our
choosing: what each chart must show is known exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from submarine.models.trackwire import encode_metrics
from tests.conftest import RunningServer, ServerFactory
from tests.e2e.browser_support import shot
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"
T0 = 1_700_000_000_000  # ms: the first point's time
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("charts"))
    try:
        yield factory.start()
    finally:
        factory.close()


def _experiment(server: RunningServer, name: str) -> str:
    answer = httpx.post(f"{server.url}{API}", json=make_spec(name=name, cmd="true")).json()
    assert answer["success"] is True, answer
    experiment_id = str(answer["result"]["experimentId"])
    wait_until(
        lambda: (
            httpx.get(f"{server.url}{API}/{experiment_id}").json()["result"]["status"]
            in ("Succeeded", "Failed")
        ),
        what=f"{name} to finish",
        timeout=120,
    )
    return experiment_id


def _metrics(server: RunningServer, experiment_id: str, worker: str, records: list[Any]) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        for at in range(0, len(records), 20_000):
            body = encode_metrics(experiment_id, worker, records[at : at + 20_000])
            answer = http.post("/api/metric/add", content=body, headers=JSON)
            assert answer.status_code == 200, answer.text


def _param(server: RunningServer, experiment_id: str, key: str, value: str) -> None:
    record = {"id": experiment_id, "key": key, "value": value, "workerIndex": "worker-0"}
    answer = httpx.post(f"{server.url}/api/param/add", json=record)
    assert answer.status_code == 200, answer.text


def _hover(page: Page, chart: Locator, fraction: float) -> None:
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)


def _cell(chart: Locator, series: str, column: str) -> Locator:
    return chart.locator(f'tr[data-series="{series}"] [data-col="{column}"]')


@pytest.fixture(scope="module")
def two_workers(charts: RunningServer) -> str:
    """An experiment whose "loss" is the step on worker-0 and twice it on worker-1 (steps 0
    to 100, one a second), and whose "noisy" alternates 0 and 1 (a value of 10^k at step k
    in "growth")."""
    experiment_id = _experiment(charts, "two-workers")
    for worker, scale in (("worker-0", 1), ("worker-1", 2)):
        records = [("loss", float(scale * n), n, T0 + 1000 * n) for n in range(101)]
        records += [("noisy", float(n % 2), n, T0 + 1000 * n) for n in range(101)]
        _metrics(charts, experiment_id, worker, records)
    _metrics(charts, experiment_id, "worker-0", [("growth", 10.0**k, k, T0) for k in range(7)])
    return experiment_id


def _open(page: Page, server: RunningServer, experiment_id: str, key: str) -> Locator:
    page.goto(f"{server.url}/#/experiment/{experiment_id}")
    chart = page.locator(f'#charts figure[data-key="{key}"]')
    expect(chart.locator(".u-over")).to_be_visible()
    return chart


def test_hover_shows_every_series_value_and_the_table_its_last_min_max(
    page: Page, charts: RunningServer, two_workers: str, tmp_path: Path
) -> None:
    chart = _open(page, charts, two_workers, "loss")
    expect(chart.locator(".stats tbody tr")).to_have_count(2)
    for worker, scale in (("worker-0", 1), ("worker-1", 2)):
        expect(_cell(chart, worker, "last")).to_have_text(str(100 * scale))
        expect(_cell(chart, worker, "min")).to_have_text("0")
        expect(_cell(chart, worker, "max")).to_have_text(str(100 * scale))
    _hover(page, chart, 0.5)
    expect(chart.locator(".hover-x")).to_have_text(re.compile(r"^step \d+$"))  # the nearest point's
    at = int(chart.locator(".hover-x").inner_text().split()[1])
    assert 40 <= at <= 60
    expect(_cell(chart, "worker-0", "value")).to_have_text(str(at))
    expect(_cell(chart, "worker-1", "value")).to_have_text(str(2 * at))
    shot(page, tmp_path, "charts")


def test_smoothing_averages_as_tensorboard_does(
    page: Page, charts: RunningServer, two_workers: str
) -> None:
    chart = _open(page, charts, two_workers, "noisy")
    page.locator("#charts-smoothing").fill("0.9")
    expect(chart).to_have_attribute("data-smoothing", "0.9")
    expect(page.locator("#charts-controls output")).to_have_text("0.9")
    smoothed = chart.evaluate("box => box.uplot.data[2]")  # raw, smoothed, raw, smoothed
    last = 0.0
    for n, y in enumerate(smoothed):
        last = last * 0.9 + 0.1 * (n % 2)
        assert y == pytest.approx(last / (1 - 0.9 ** (n + 1)))
    assert 0.4 < smoothed[-1] < 0.6  # where raw values jump between 0 and 1
    _hover(page, chart, 0.95)
    value = float(_cell(chart, "worker-0", "value").inner_text())
    assert 0.4 < value < 0.6  # the hover shows the smoothed value


def test_drag_zooms_and_reset_shows_it_all(
    page: Page, charts: RunningServer, two_workers: str
) -> None:
    chart = _open(page, charts, two_workers, "loss")
    expect(chart).to_have_attribute("data-zoomed", "false")
    reset = chart.get_by_role("button", name="Reset zoom")
    expect(reset).to_be_hidden()
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    expect(chart).to_have_attribute("data-zoomed", "true")
    low, high = (
        float(chart.get_attribute("data-x-min") or 0),
        float(chart.get_attribute("data-x-max") or 0),
    )
    assert 20 < low < high < 70
    reset.click()
    expect(chart).to_have_attribute("data-zoomed", "false")
    expect(chart).to_have_attribute("data-x-min", "0")
    expect(chart).to_have_attribute("data-x-max", "100")
    expect(reset).to_be_hidden()


def test_log_scale_and_the_x_axis_by_relative_or_wall_time(
    page: Page, charts: RunningServer, two_workers: str
) -> None:
    chart = _open(page, charts, two_workers, "growth")
    assert chart.evaluate("box => box.uplot.scales.y.distr") == 1
    page.locator("#charts-log").check()
    expect(chart).to_have_attribute("data-log", "true")
    assert chart.evaluate("box => box.uplot.scales.y.distr") == 3  # uPlot's log scale
    loss = page.locator('#charts figure[data-key="loss"]')
    expect(loss.locator(".chart-note")).to_have_text(
        "Values at or below 0 are not drawn on a log scale."
    )
    page.locator("#charts-log").uncheck()
    expect(loss.locator(".chart-note")).to_be_hidden()

    page.select_option("#charts-x-axis", "relative")
    expect(loss).to_have_attribute("data-x", "relative")
    assert loss.evaluate("box => [box.uplot.data[0][0], box.uplot.data[0].at(-1)]") == [0, 100]
    _hover(page, loss, 0.5)
    expect(loss.locator(".hover-x")).to_have_text(re.compile(r"^\d+(\.\d)? s$"))

    page.select_option("#charts-x-axis", "wall")
    expect(loss).to_have_attribute("data-x", "wall")
    assert loss.evaluate("box => box.uplot.scales.x.time") is True
    assert loss.evaluate("box => box.uplot.data[0][0]") == T0 / 1000
    _hover(page, loss, 0.5)
    expect(loss.locator(".hover-x")).to_contain_text(
        "2023"
    )  # the date of T0, as the browser writes it

    page.select_option("#charts-x-axis", "step")
    _hover(page, loss, 0.5)
    expect(loss.locator(".hover-x")).to_have_text(re.compile(r"^step \d"))


def test_a_key_of_a_million_points_is_drawn_thinned(page: Page, charts: RunningServer) -> None:
    experiment_id = _experiment(charts, "a-million")
    values = [math.sin(n / 20_000) for n in range(1_000_000)]
    values[654_321] = 5.0  # one spike that a chart must not lose
    _metrics(charts, experiment_id, "worker-0", [("loss", v, n, 0) for n, v in enumerate(values)])
    chart = _open(page, charts, experiment_id, "loss")
    expect(chart).to_have_attribute("data-count", "1000000")
    expect(chart.locator(".stats")).to_contain_text("1000000 points, thinned")
    assert int(chart.get_attribute("data-points") or 0) <= 4000
    expect(_cell(chart, "worker-0", "max")).to_have_text("5")
    expect(_cell(chart, "worker-0", "min")).to_have_text("-1")
    assert chart.evaluate("box => box.uplot.data[0].at(-1)") == 999_999
    # Zoomed in, the window is read again from the server, thinned to the same number of
    # buckets: the chart shows the points there, not the few that stood for them.
    chart.evaluate("box => box.uplot.setScale('x', {min: 654000, max: 655000})")
    expect(chart).to_have_attribute("data-sharpened", "654000..655000")
    shown = chart.evaluate(
        "box => box.uplot.data[0].filter((x, i) => x >= 654000 && x <= 655000"
        " && box.uplot.data[1][i] !== null)"
    )
    assert shown == list(range(654_000, 655_001))  # 1001 points: fewer than 2 a bucket, all of them
    chart.get_by_role("button", name="Reset zoom").click()
    expect(chart).to_have_attribute("data-zoomed", "false")
    assert int(chart.get_attribute("data-points") or 0) <= 4000


def test_compare_keeps_two_runs_of_one_name_apart_with_their_tables(
    page: Page, charts: RunningServer, tmp_path: Path
) -> None:
    ids = [_experiment(charts, "twin") for _ in range(2)]
    for index, experiment_id in enumerate(ids):
        _metrics(
            charts,
            experiment_id,
            "worker-0",
            [("loss", 1.0 + index + n, n, T0 + n) for n in range(300)],
        )
        _param(charts, experiment_id, "learning_rate", ("0.1", "0.01")[index])
        _param(charts, experiment_id, "batch", "64")
    page.goto(f"{charts.url}/#/compare?ids={','.join(ids)}")
    chart = page.locator('#compare-charts figure[data-key="loss"]')
    rows = chart.locator(".stats tbody tr")
    expect(rows).to_have_count(2)  # two series, not one zig-zag of both
    for row in range(2):
        expect(rows.nth(row)).to_contain_text(re.compile(r"^twin \(\S+\) worker-0 \(300\)"))
    assert rows.nth(0).get_attribute("data-series") != rows.nth(1).get_attribute("data-series")
    expect(rows.nth(0).locator('[data-col="last"]')).to_have_text("300")
    expect(rows.nth(1).locator('[data-col="last"]')).to_have_text("301")

    params = page.locator("#compare-params tbody tr")
    expect(params).to_have_count(2)
    expect(params.nth(0)).to_have_attribute("data-key", "learning_rate")  # what differs first
    expect(params.nth(0)).to_have_class("differs")
    expect(params.nth(0).locator("td")).to_have_text(["0.1", "0.01"])
    expect(params.nth(1).locator("td")).to_have_text(["64", "64"])
    expect(page.locator('#compare-metrics tr[data-key="loss"] td')).to_have_text(["300", "301"])

    scatter = page.locator("#scatter")
    expect(page.locator("#scatter-param")).to_have_value("batch")
    page.select_option("#scatter-param", "learning_rate")
    expect(scatter.locator("circle")).to_have_count(2)
    expect(scatter.locator("h3")).to_have_text("loss against learning_rate")
    expect(scatter.locator("svg")).to_have_attribute(
        "aria-label", "loss against learning_rate: 2 experiments"
    )
    shot(page, tmp_path, "compare-tables", full=True)

"""Goal 13: what the workbench's run page costs while it follows a run, and drawing a
million points.

A running experiment holds 10,000 metric points (two workers, 5,000 steps of "loss"). Its
page is opened in headless Chromium (Debian's, through Playwright) and left to poll; once
its charts are drawn, every response body the page receives is counted, with the
renderer's main-thread time (Chrome's ``TaskDuration``) and the server's CPU, over a window
of polls (a poll: one read of the experiment, every 1.5 s). Three pages are measured on the
same server, in turn: this page, and as baselines two earlier versions of it, taken from
git and served in its place by the browser (``page.route``): the first page (``FIRST``),
which read every metric again at each poll, and the page before the charts moved to uPlot
(``PREVIOUS``), which read a page after a cursor.

A million points: one key of 1,000,000 points; the time from opening the run page until
its chart is drawn (the server's thinned read and the drawing), and the drawing alone.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import psutil

from benchmarks.context import Context
from benchmarks.harness import Goal, Pair, Row, Stats
from benchmarks.servers import REPO, Server

__all__ = ["FIRST", "PREVIOUS", "run"]

FIRST = "457a19d^"
"""The page that read every metric again at each poll (before the paged reads)."""
PREVIOUS = "eb92a38"
"""The page before uPlot: paged reads after a cursor, SVG charts."""
STATIC = "submarine/server/workbench/static"
POLL_S = 1.5
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
SPEC = {
    "meta": {"name": "charts-bench", "framework": "TensorFlow", "cmd": "sleep 3600"},
    "environment": {"image": "local"},
    "spec": {"Worker": {"replicas": 1, "resources": "cpu=100m,memory=64M"}},
}


def _old_page(rev: str) -> dict[str, bytes]:
    """The page's files at a git revision, by the path the server serves each at."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{rev}:{STATIC}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = {}
    for name in names:
        body = subprocess.run(
            ["git", "show", f"{rev}:{STATIC}/{name}"], cwd=REPO, capture_output=True, check=True
        ).stdout
        files["/" if name == "index.html" else f"/{name}"] = body
    return files


def _add(url: str, experiment_id: str, worker: str, records: list[Any]) -> None:
    from submarine.models.trackwire import encode_metrics

    with httpx.Client(base_url=url, timeout=300) as http:
        for at in range(0, len(records), 20_000):
            body = encode_metrics(experiment_id, worker, records[at : at + 20_000])
            answer = http.post(
                "/api/metric/add", content=body, headers={"Content-Type": "application/json"}
            )
            answer.raise_for_status()


def _experiment(url: str) -> str:
    answer = httpx.post(f"{url}/api/v1/experiment", json=SPEC, timeout=30).json()
    return str(answer["result"]["experimentId"])


def _wait(page: Any, check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Wait for ``check`` while the browser's events come in (Playwright's sync API hands
    them over only while it is waiting itself)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def _follow(
    browser: Any, server: Server, experiment_id: str, files: dict[str, bytes] | None, polls: int
) -> tuple[float, float, float]:
    """(bytes, renderer seconds, server CPU seconds) per poll of the run page, steady state."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    if files is not None:

        def serve(route: Any) -> None:
            path = route.request.url.split(server.url, 1)[1].split("?")[0].split("#")[0] or "/"
            kind = (
                "text/html"
                if path == "/"
                else "text/css"
                if path.endswith(".css")
                else "image/svg+xml"
                if path.endswith(".svg")
                else "text/javascript"
            )
            route.fulfill(status=200, body=files[path], content_type=kind)

        for path in files:
            page.route(f"{server.url}{path}", serve)
    received = {"bytes": 0, "polls": 0}

    def finished(request: Any) -> None:
        path = request.url.split(server.url, 1)[-1]
        if not path.startswith("/api/"):
            return
        try:
            sizes = request.sizes()
        except Exception:  # the page was closed meanwhile
            return
        received["bytes"] += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        if path.split("?")[0] == f"/api/v1/experiment/{experiment_id}":
            received["polls"] += 1

    page.on("requestfinished", finished)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(f"{server.url}/#/experiment/{experiment_id}")
    chart = page.locator('#charts figure[data-key="loss"]')
    chart.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => document.querySelectorAll('#charts figure').length > 0", timeout=120_000
    )
    _wait(page, lambda: received["polls"] >= 3, "the page to poll")  # past the first, whole read

    def task_seconds() -> float:
        metrics = cdp.send("Performance.getMetrics")["metrics"]
        return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))

    process = psutil.Process(server.process.pid)
    start_bytes, start_polls = received["bytes"], received["polls"]
    start_task, start_cpu = task_seconds(), sum(process.cpu_times()[:2])
    _wait(
        page,
        lambda: received["polls"] - start_polls >= polls,
        "the polls",
        timeout=polls * POLL_S * 4 + 60,
    )
    page.wait_for_timeout(100)
    count = received["polls"] - start_polls
    result = (
        (received["bytes"] - start_bytes) / count,
        (task_seconds() - start_task) / count,
        (sum(process.cpu_times()[:2]) - start_cpu) / count,
    )
    context.close()
    return result


def _million(browser: Any, server: Server, experiment_id: str, size: int) -> tuple[float, float]:
    """(seconds from opening the page until the chart is drawn, seconds drawing)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    began = time.perf_counter()
    page.goto(f"{server.url}/#/experiment/{experiment_id}")
    chart = page.locator(f'#charts figure[data-key="loss"][data-count="{size}"]')
    chart.wait_for(timeout=120_000)
    opened = time.perf_counter() - began
    drawing = float(chart.get_attribute("data-draw-ms") or "nan") / 1000
    context.close()
    return opened, drawing


def run(ctx: Context) -> None:
    """Follow a run of 10,000 points with this page and two earlier ones; draw a million."""
    from playwright.sync_api import sync_playwright

    points = ctx.size(5000, 500)
    polls = ctx.size(10, 3)
    repeats = ctx.size(3, 1)
    pages = {"now": None, "first": _old_page(FIRST), "previous": _old_page(PREVIOUS)}
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in pages}
    million: list[tuple[float, float]] = []
    with Server(ctx.scratch("workbench")) as server, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            running = _experiment(server.url)
            for worker in ("worker-0", "worker-1"):
                _add(
                    server.url,
                    running,
                    worker,
                    [("loss", 1 / (n + 1), n, 0) for n in range(points)],
                )
            ctx.log(f"workbench: following {2 * points} points, {repeats} x {polls} polls per page")
            for _ in range(repeats):
                for name, files in pages.items():
                    samples[name].append(_follow(browser, server, running, files, polls))
            big = _experiment(server.url)
            size = ctx.size(1_000_000, 20_000)
            _add(
                server.url,
                big,
                "worker-0",
                [("loss", math.sin(n / 5000), n, 0) for n in range(size)],
            )
            for _ in range(repeats):
                million.append(_million(browser, server, big, size))
            for experiment_id in (running, big):
                httpx.delete(f"{server.url}/api/v1/experiment/{experiment_id}", timeout=60)
        finally:
            browser.close()
    now = samples["now"]
    for key, name, label in (
        ("13", "first", f"the first page ({FIRST}): every metric read again each poll"),
        ("13b", "previous", f"the page before uPlot ({PREVIOUS}): pages after a cursor"),
    ):
        base = samples[name]
        ctx.add(
            Row.paired(
                key,
                f"run page following a run of {2 * points} points: bytes received per poll",
                label,
                Pair(Stats.of([s[0] for s in now]), Stats.of([s[0] for s in base])),
                unit="B",
                goal=Goal(0.05) if name == "first" else None,
                note="bodies and headers of every /api/ answer in a window, over its polls",
            )
        )
        ctx.add(
            Row.paired(
                f"{key}c",
                "the same: the page's main-thread time per poll (Chrome's TaskDuration)",
                label,
                Pair(Stats.of([s[1] for s in now]), Stats.of([s[1] for s in base])),
            )
        )
        ctx.add(
            Row.paired(
                f"{key}s",
                "the same: the server's CPU per poll",
                label,
                Pair(Stats.of([s[2] for s in now]), Stats.of([s[2] for s in base])),
            )
        )
    ctx.add(
        Row(
            "13d",
            f"open a run page with a key of {size} points until its chart is drawn (thinned)",
            "-",
            "s",
            Stats.of([m[0] for m in million]),
        )
    )
    ctx.add(
        Row(
            "13e",
            "of which drawing the chart (thinned to at most 4 points a bucket of 1000)",
            "-",
            "s",
            Stats.of([m[1] for m in million]),
            goal=Goal(1.0, on="value"),
        )
    )
    ctx.note(
        "workbench: "
        + json.dumps({k: [[round(x, 4) for x in s] for s in v] for k, v in samples.items()})
    )

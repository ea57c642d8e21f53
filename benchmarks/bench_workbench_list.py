"""What one look of the workbench's experiment list costs at 2,000 experiments: bytes on
the wire, the server's CPU and the page's CPU per poll, for this checkout's page and for a
previous checkout's (``--before``, a source tree of the version to compare with), served
from copies of one store on the same machine.

    python -m benchmarks.bench_workbench_list --before ../previous-checkout

Each server gets a store of 2,000 finished experiments; a headless Chromium (Debian's
``chromium``, driven by Playwright) opens the list, waits until it shows them, then watches
for ``--seconds``: the bytes of every answer to ``GET /api/v1/experiment`` (Chrome's
``encodedDataLength``: headers and body), the page's main-thread time (CDP
``Performance.getMetrics`` ``TaskDuration``) and the server process's CPU time (psutil)
over the window, each divided by the number of list polls in it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

from benchmarks.servers import Server, fill_store

CHROMIUM = os.environ.get("SUBMARINE_TEST_CHROMIUM", "/usr/bin/chromium")
LIST_PATH = "/api/v1/experiment"


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def churn(server: Server, stop: threading.Event) -> None:
    """Patch one experiment every second (its spec, as the form's Update does) until told
    to stop: a list that changes between every two polls."""
    listed = httpx.get(f"{server.url}{LIST_PATH}", timeout=60).json()["result"]
    target = listed[-1]
    spec = target["spec"]
    count = 0
    while not stop.wait(1.0):
        count += 1
        spec["meta"]["cmd"] = f"true {count}"
        httpx.patch(f"{server.url}{LIST_PATH}/{target['experimentId']}", json=spec, timeout=60)


def watch(server: Server, seconds: float, changing: bool = False) -> dict[str, Any]:
    """Open the list in Chromium, then measure a window of ``seconds`` (while one
    experiment changes every second, when ``changing``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        cdp.send("Network.enable")
        urls: dict[str, str] = {}
        sizes: dict[str, list[float]] = {"list": [], "resources": []}
        cdp.on(
            "Network.requestWillBeSent",
            lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]),
        )

        def finished(event: dict[str, Any]) -> None:
            url = urls.get(event["requestId"], "")
            if urlsplit(url).path == LIST_PATH:
                sizes["list"].append(event["encodedDataLength"])
            elif url.endswith("/api/v1/resources"):
                sizes["resources"].append(event["encodedDataLength"])

        cdp.on("Network.loadingFinished", finished)
        # A 304 ends without loadingFinished: its size is what its response said.
        cdp.on(
            "Network.responseReceived",
            lambda e: (
                sizes["list"].append(e["response"].get("encodedDataLength", 0))
                if e["response"]["status"] == 304
                and urlsplit(e["response"]["url"]).path == LIST_PATH
                else None
            ),
        )
        page.goto(f"{server.url}/#/")
        page.locator("#experiments tbody tr").first.wait_for(timeout=120_000)
        page.wait_for_timeout(3000)  # the first answers are the load, not the polls
        sizes["list"].clear()
        sizes["resources"].clear()

        def task() -> float:
            metrics = cdp.send("Performance.getMetrics")["metrics"]
            return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))

        stop = threading.Event()
        changer = threading.Thread(target=churn, args=(server, stop), daemon=True)
        if changing:
            changer.start()
        page_before, server_before = task(), _cpu(server.pid)
        page.wait_for_timeout(seconds * 1000)
        page_after, server_after = task(), _cpu(server.pid)
        stop.set()
        if changing:
            changer.join()
        browser.close()
    polls = max(1, len(sizes["list"]))
    return {
        "polls": len(sizes["list"]),
        "bytes_per_poll": sum(sizes["list"]) / polls,
        "resources_bytes_per_poll": (sum(sizes["resources"]) / max(1, len(sizes["resources"]))),
        "page_cpu_ms_per_poll": (page_after - page_before) * 1000 / polls,
        "server_cpu_ms_per_poll": (server_after - server_before) * 1000 / polls,
    }


def main() -> None:
    """Measure both pages and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree to compare with")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-list-"))
    try:
        fill_store(root / "after", options.count)
        shutil.copytree(root / "after", root / "before")
        results = {}
        for label, source in (("before", options.before.resolve()), ("after", None)):
            saved = os.environ.get("PYTHONPATH")
            if source is not None:
                os.environ["PYTHONPATH"] = str(source)
            try:
                server = Server(root / label)
            finally:
                if saved is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = saved
            try:
                time.sleep(1.0)  # let the server settle before the window
                results[label] = watch(server, options.seconds)
                results[f"{label}, one experiment changing every second"] = watch(
                    server, options.seconds, changing=True
                )
            finally:
                server.stop()
        for label, figures in results.items():
            print(label, {k: round(v, 2) for k, v in figures.items()})
        for suffix in ("", ", one experiment changing every second"):
            after = results[f"after{suffix}"]["bytes_per_poll"]
            ratio = after / results[f"before{suffix}"]["bytes_per_poll"]
            print(f"bytes per poll{suffix}, after / before: {ratio:.4f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

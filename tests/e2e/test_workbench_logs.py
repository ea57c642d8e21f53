"""The log viewer in a real headless Chromium: ANSI colours rendered, a ``\\r`` progress bar
shown as its last state, search with highlights, a pod's whole log downloaded, every pod's
lines in one view, and only the latest lines kept in the page (older ones on demand)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.browser_support import shot
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"

# Colours, a tqdm-style bar rewritten with "\r", a needle twice, and `extra` plain lines.
SCRIPT = r"""
import sys
extra = int(sys.argv[1])
red, bold_green, orange, reset = "\x1b[31m", "\x1b[1;32m", "\x1b[38;5;208m", "\x1b[0m"
print(f"{red}ERROR{reset} plain {bold_green}bold green{reset} {orange}orange{reset}", flush=True)
for percent in range(0, 101, 10):
    sys.stdout.write(f"\rtraining {percent:3d}%|" + "#" * (percent // 10))
sys.stdout.write("\n")
print("first needle here", flush=True)
for index in range(extra):
    print(f"line {index}")
print("second NEEDLE there", flush=True)
print("the end", flush=True)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("workbench-logs"))
    try:
        made = factory.start()
        (made.workdir / "colours.py").write_text(SCRIPT)
        yield made
    finally:
        factory.close()


def _run(server: RunningServer, name: str, extra: int, workers: int = 1) -> str:
    spec: dict[str, Any] = make_spec(
        name=name,
        cmd=f"python colours.py {extra}",
        roles={"Worker": workers},
        resources="cpu=100m,memory=64M",
    )
    answer = httpx.post(f"{server.url}{API}", json=spec).json()
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


def test_colours_progress_search_download_and_all_pods(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    experiment_id = _run(server, "colours", 20, workers=2)
    page.goto(f"{server.url}/#/experiment/{experiment_id}")
    log = page.locator("#log")
    expect(log).to_contain_text("the end")
    # ANSI: coloured spans, no escape glyphs.
    expect(log.locator("span.ansi-fg-1")).to_have_text("ERROR")
    expect(log.locator("span.ansi-fg-2.ansi-bold")).to_have_text("bold green")
    assert "\x1b" not in log.inner_text()
    assert "[31m" not in log.inner_text()
    # The progress bar: only its last state.
    expect(log).to_contain_text("training 100%|##########")
    assert "training  10%" not in log.inner_text()

    # Search: every match highlighted, case-insensitively; Enter steps through them.
    page.fill("#log-search", "needle")
    expect(log.locator("mark.log-match")).to_have_count(2)
    expect(page.locator("#log-matches")).to_have_text("1 of 2 matches")
    page.press("#log-search", "Enter")
    expect(page.locator("#log-matches")).to_have_text("2 of 2 matches")
    expect(log.locator("mark.log-match.current")).to_have_text("NEEDLE")
    shot(page, tmp_path, "logs", full=True)
    page.fill("#log-search", "")
    expect(log.locator("mark.log-match")).to_have_count(0)

    # The whole log of the pod, downloaded.
    with page.expect_download() as downloading:
        page.click("#log-download")
    saved = Path(downloading.value.path())
    text = saved.read_text()
    assert "line 19" in text
    assert "the end" in text
    assert downloading.value.suggested_filename.endswith("-worker-0.log")

    # Every pod's lines in one view, each with its pod.
    page.get_by_role("tab", name="All pods").click()
    expect(log).to_contain_text("worker-0 | the end")
    expect(log).to_contain_text("worker-1 | the end")


def test_only_the_latest_lines_are_kept_older_ones_on_demand(
    page: Page, server: RunningServer
) -> None:
    experiment_id = _run(server, "long-log", 6000)
    page.goto(f"{server.url}/#/experiment/{experiment_id}")
    log = page.locator("#log")
    expect(log).to_contain_text("the end")
    expect(page.locator("#log-older")).to_be_visible()
    expect(log.locator(".log-line")).to_have_count(5000)
    expect(log).not_to_contain_text("first needle")
    page.click("#log-load-older")
    expect(log).to_contain_text("first needle")
    expect(page.locator("#log-older")).to_be_hidden()
    assert log.locator(".log-line").count() > 6000

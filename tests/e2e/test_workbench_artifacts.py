"""The experiment page's Artifacts section and TensorBoard link, in a real headless Chromium:
the saved models of an experiment listed with their type and registered name, one of them
downloaded as a tar through the page."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.browser_support import CHROMIUM, CHROMIUM_ARGS, WAIT_MS
from tests.server.test_artifacts import SAVE_TWICE
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs chromium"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield opened
        finally:
            context.close()
            browser.close()
        assert not errors, errors


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path / "servers")
    try:
        yield factory.start()
    finally:
        factory.close()


def test_the_experiment_page_lists_saved_models_and_downloads_one(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    (server.workdir / "save.py").write_text(SAVE_TWICE)
    answer = httpx.post(f"{server.url}{API}", json=make_spec(name="saved", cmd="python save.py"))
    experiment_id = answer.json()["result"]["experimentId"]
    wait_until(
        lambda: (
            httpx.get(f"{server.url}{API}/{experiment_id}").json()["result"]["status"]
            in ("Succeeded", "Failed")
        ),
        what="the experiment to end",
        timeout=120,
    )

    page.goto(f"{server.url}/#/experiment/{experiment_id}")
    rows = page.locator("#artifacts tbody tr")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    expect(rows.nth(0)).to_contain_text("1/")
    expect(rows.nth(0)).to_contain_text("pytorch")
    expect(rows.nth(0)).to_contain_text("my-model v")
    expect(rows.nth(1)).to_contain_text("2/")
    expect(page.locator("#no-artifacts")).to_be_hidden()
    board = page.locator("#tensorboard-link a")
    expect(board).to_be_visible()
    assert board.get_attribute("href") == "/tensorboard/"

    with page.expect_download() as caught:
        rows.nth(0).get_by_role("button", name="Download").click()
    download = caught.value
    assert download.suggested_filename == f"{experiment_id}-1.tar"
    saved = tmp_path / "one.tar"
    download.save_as(saved)
    with tarfile.open(saved) as archive:
        assert sorted(archive.getnames()) == ["description.json", "model.pt"]
    page.locator("#artifacts-section").screenshot(path=str(tmp_path / "artifacts.png"))

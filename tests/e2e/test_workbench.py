"""The workbench page in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): create through the form, see a problem at its field, watch logs and charts
update while an experiment runs, compare two experiments, delete one, sign in.

Every wait polls the page (Playwright's ``expect``) or the API until a condition holds; a
running experiment moves on only when the test creates its gate file. Each page is saved
as a screenshot: into the test's temporary directory, or into the directory named by
``SUBMARINE_SCREENSHOTS`` (``make screenshots`` writes the README's, under ``docs/``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.browser_support import shot
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"
TOKEN = "workbench-token-123"

# A replica that logs a metric per step, 5 steps, then waits for the gate file, then 5 more.
GATED_LOGGER = """
import os, sys, time
import submarine
from submarine import tracking
gate = sys.argv[1]
rank = int(tracking.worker_index().rsplit("-", 1)[1])
submarine.log_param("learning_rate", 0.05)
for step in range(10):
    if step == 5:
        print("phase one done", flush=True)
        end = time.monotonic() + 120
        while not os.path.exists(gate) and time.monotonic() < end:
            time.sleep(0.02)
    submarine.log_metric("loss", (2.0 + rank) / (step + 1), step=step)
    submarine.log_metric("accuracy", step / (10 + 5 * rank), step=step)
    print(f"step {step}", flush=True)
    if step == 4:
        tracking.flush()
print("phase two done", flush=True)
"""

QUICK_LOGGER = """
import sys
import submarine
scale = float(sys.argv[1])
for step in range(8):
    submarine.log_metric("loss", scale / (step + 1), step=step)
print("finished", flush=True)
"""


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("workbench"))
    try:
        yield factory.start()
    finally:
        factory.close()


def _script(server: RunningServer, name: str, text: str) -> str:
    """Write a replica's script into the directory replicas run in; its relative name (so
    commands, and the screenshots that show them, name no directory of this machine)."""
    (server.workdir / name).write_text(text)
    return name


def _create(server: RunningServer, spec: dict[str, Any]) -> str:
    answer = httpx.post(f"{server.url}{API}", json=spec).json()
    assert answer["success"] is True, answer
    return str(answer["result"]["experimentId"])


def _status(server: RunningServer, experiment_id: str) -> str:
    answer = httpx.get(f"{server.url}{API}/{experiment_id}").json()
    return str(answer["result"]["status"]) if answer["result"] else "gone"


def test_create_through_the_form_with_a_problem_shown_at_its_field(
    page: Page, workbench: RunningServer, tmp_path: Path
) -> None:
    script = _script(workbench, "quick.py", QUICK_LOGGER)
    page.goto(f"{workbench.url}/#/new")
    expect(page.get_by_role("heading", name="New experiment")).to_be_visible()
    page.fill("#f-name", "form-made")
    page.fill("#f-cmd", f"python {script} 3")
    resources = page.get_by_label("Resources of role 1")
    resources.fill("cpu=1,memory=1.5G")
    # The server's model says what is wrong, and the page puts it at the field.
    role_error = page.locator(".role .role-error").first
    expect(role_error).to_contain_text("memory")
    expect(resources).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#create")).to_be_disabled()
    page.fill("#f-name", "")
    expect(page.locator("#f-name-error")).not_to_have_text("")
    expect(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    shot(page, tmp_path, "new")

    page.fill("#f-name", "form-made")
    resources.fill("cpu=100m,memory=64M")
    expect(page.locator("#f-name-error")).to_have_text("")
    expect(role_error).to_have_text("")
    page.click("#create")
    page.wait_for_url("**/#/experiment/experiment-*")
    experiment_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_contain_text("form-made")
    wait_until(
        lambda: _status(workbench, experiment_id) == "Succeeded",
        what="the form's experiment",
        timeout=120,
    )
    expect(page.locator("#log")).to_contain_text("finished")
    expect(page.locator('#charts figure[data-key="loss"] polyline')).to_have_count(1)


def test_a_running_experiment_shows_logs_and_charts_as_they_come(
    page: Page, workbench: RunningServer, tmp_path: Path
) -> None:
    gate = workbench.workdir / "gate-live-chart"
    script = _script(workbench, "gated.py", GATED_LOGGER)
    experiment_id = _create(
        workbench,
        make_spec(roles={"Worker": 2}, name="live-chart", cmd=f"python {script} {gate.name}"),
    )
    page.goto(f"{workbench.url}/#/experiment/{experiment_id}")
    expect(page.locator("h1 .badge")).to_have_text("Running")
    log = page.locator("#log")
    expect(log).to_contain_text("phase one done")
    loss = page.locator('#charts figure[data-key="loss"]')
    expect(loss.locator("polyline")).to_have_count(2)  # one line per worker
    expect(loss.locator(".legend")).to_contain_text("worker-0 (5)")
    expect(loss.locator(".legend")).to_contain_text("worker-1 (5)")
    expect(page.locator("#params")).to_contain_text("learning_rate")
    expect(page.locator("#pods tbody tr")).to_have_count(2)
    assert "phase two done" not in log.inner_text()
    shot(page, tmp_path, "running")

    gate.write_text("go")
    expect(log).to_contain_text("phase two done")
    expect(loss.locator(".legend")).to_contain_text("worker-0 (10)")
    expect(loss.locator(".legend")).to_contain_text("worker-1 (10)")
    expect(page.locator("h1 .badge")).to_have_text("Succeeded")
    # The other worker's log, through its tab.
    page.get_by_role("tab", name="worker-1").click()
    expect(log).to_contain_text("step 9")
    shot(page, tmp_path, "experiment", full=True)


def test_compare_two_experiments_then_delete_one(
    page: Page, workbench: RunningServer, tmp_path: Path
) -> None:
    script = _script(workbench, "quick.py", QUICK_LOGGER)
    first = _create(workbench, make_spec(name="compare-low", cmd=f"python {script} 1"))
    second = _create(workbench, make_spec(name="compare-high", cmd=f"python {script} 4"))
    for experiment_id in (first, second):
        wait_until(
            lambda e=experiment_id: _status(workbench, e) == "Succeeded",
            what=f"{experiment_id} to succeed",
            timeout=120,
        )

    page.goto(f"{workbench.url}/#/")
    table = page.locator("#experiments")
    expect(table.locator(f'tr[data-id="{first}"] .badge')).to_have_text("Succeeded")
    page.select_option("#filter-status", "Succeeded")
    page.fill("#filter-name", "compare-")
    expect(table.locator("tbody tr")).to_have_count(2)
    shot(page, tmp_path, "list")
    page.get_by_label("Select compare-low to compare").check()
    page.get_by_label("Select compare-high to compare").check()
    page.click("#compare")
    chart = page.locator('#compare-charts figure[data-key="loss"]')
    expect(chart.locator("polyline")).to_have_count(2)
    expect(chart.locator(".legend")).to_contain_text("compare-low worker-0 (8)")
    expect(chart.locator(".legend")).to_contain_text("compare-high worker-0 (8)")
    shot(page, tmp_path, "compare")

    page.goto(f"{workbench.url}/#/")
    row = table.locator(f'tr[data-id="{first}"]')
    row.get_by_role("button", name="Delete compare-low").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    page.click("#confirm-cancel")  # cancelling keeps it
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Delete compare-low").click()
    page.click("#confirm-ok")
    expect(row).to_have_count(0)
    assert _status(workbench, first) == "gone"
    assert _status(workbench, second) == "Succeeded"


def test_with_a_token_the_page_asks_for_it_and_keeps_it_for_the_session(
    browser: Browser, server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start("--token", TOKEN)
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(f"{server.url}/#/")
        dialog = page.locator("#login")
        expect(dialog).to_be_visible()
        page.fill("#login-token", "wrong")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("not accepted")
        page.fill("#login-token", TOKEN)
        page.click("#login-form button[type=submit]")
        expect(dialog).to_be_hidden()
        expect(page.locator("#count")).to_have_text("0 of 0")
        assert page.evaluate("sessionStorage.getItem('submarine-workbench-token')") == TOKEN
        assert page.evaluate("localStorage.length") == 0
        page.goto(f"{server.url}/#/new")
        page.fill("#f-name", "Bad Name!")
        expect(page.locator("#f-name-error")).not_to_have_text("")
        shot(page, tmp_path, "phone-dark")
    finally:
        context.close()


def test_the_printed_link_signs_in_and_leaves_no_token_in_the_address_bar(
    browser: Browser, server_factory: ServerFactory
) -> None:
    # A token given to the server: its user's browser is not let in without it, so only
    # the link can have signed the page in.
    server = server_factory.start("--token", TOKEN)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/?token={TOKEN}#/")
        expect(page.locator("#count")).to_have_text("0 of 0")
        expect(page.locator("#login")).to_be_hidden()
        assert page.url == f"{server.url}/#/"
        assert page.evaluate("sessionStorage.getItem('submarine-workbench-token')") == TOKEN
        assert page.evaluate("localStorage.length") == 0
        page.go_back()  # the entry with the token was replaced, not added to
        assert page.url == "about:blank"
    finally:
        context.close()


def test_a_default_server_prints_a_link_that_signs_in(
    browser: Browser, server_factory: ServerFactory
) -> None:
    server = server_factory.start()
    match = re.search(r"Submarine workbench at (\S+)", server.log())
    assert match is not None, server.log()
    link = match.group(1)
    token = (server.data_dir / "token").read_text().strip()
    assert link == f"{server.url}/?token={token}"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(link)
        expect(page.locator("#count")).to_have_text("0 of 0")
        assert page.url == f"{server.url}/"
        assert page.evaluate("sessionStorage.getItem('submarine-workbench-token')") == token
    finally:
        context.close()


def test_the_page_is_self_contained(workbench: RunningServer) -> None:
    page = httpx.get(f"{workbench.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for path in (
        "/",
        "/workbench.js",
        "/workbench-views.js",
        "/workbench-new.js",
        "/workbench-templates.js",
        "/workbench-run.js",
        "/workbench.css",
        "/favicon.svg",
        "/workbench-logs.js",
        "/workbench-list.js",
    ):
        text = httpx.get(f"{workbench.url}{path}").text
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text.replace("https://github.com/you/repo.git", "")

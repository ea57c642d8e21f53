"""The page rides through a restart of the server: it says the server is unreachable while it
is down, and shows the adopted run again, to its end, without a reload."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ServerFactory
from tests.e2e.browser_support import WAIT_MS
from tests.server.test_restarts import TRAINING, free_port
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"


def test_the_page_says_the_server_is_unreachable_and_recovers_by_itself(
    page: Page, tmp_path: Path
) -> None:
    factory = ServerFactory(tmp_path / "servers")
    try:
        # The replicas send metrics to the server's address: the restart keeps its port.
        server = factory.start("--port", str(free_port()), "--grace-period", "0.5")
        gate = tmp_path / "gate"
        (server.workdir / "train.py").write_text(TRAINING)
        spec = make_spec(name="rides-through", cmd=f"python train.py {gate}")
        spec["meta"]["envVars"] = {"SUBMARINE_TRACKING_EXIT_TIMEOUT": "120"}
        answer = httpx.post(f"{server.url}{API}", json=spec).json()
        experiment_id = answer["result"]["experimentId"]
        page.goto(f"{server.url}/#/experiment/{experiment_id}")
        title = page.locator("#main h1")
        expect(title).to_contain_text("Running", timeout=WAIT_MS)
        banner = page.locator("#unreachable")
        expect(banner).to_be_hidden()

        server.stop()  # the run goes on; the page finds the server gone
        expect(banner).to_be_visible(timeout=WAIT_MS)
        expect(banner).to_contain_text("unreachable")

        server.restart()
        expect(banner).to_be_hidden(timeout=WAIT_MS)
        expect(title).to_contain_text("Running", timeout=WAIT_MS)
        gate.touch()
        expect(title).to_contain_text("Succeeded", timeout=WAIT_MS)
        expect(page.locator("#reason")).to_have_count(0)  # nothing failed, nothing waits

        metrics = httpx.post(f"{server.url}/api/metric/selective", json={"id": experiment_id})
        steps = sorted(m["step"] for m in metrics.json()["result"] if m["key"] == "loss")
        assert len(steps) >= 3
        assert steps == list(range(len(steps)))  # every step, across the restart
        wait_until(lambda: page.locator('#charts figure[data-key="loss"]').count() == 1,
                   what="the loss chart")  # fmt: skip
    finally:
        factory.close()


def test_a_waiting_experiment_says_why_in_its_header_and_in_the_list(
    page: Page, tmp_path: Path
) -> None:
    factory = ServerFactory(tmp_path / "servers")
    try:
        server = factory.start("--cpus", "1", "--grace-period", "0.5")
        blocker = make_spec(name="blocker", cmd="sleep 600", resources="cpu=1")
        httpx.post(f"{server.url}{API}", json=blocker).raise_for_status()
        queued = make_spec(name="queued", resources="cpu=1")
        answer = httpx.post(f"{server.url}{API}", json=queued).json()["result"]
        experiment_id = answer["experimentId"]
        reason = answer["reason"]
        assert reason.startswith("waiting in the queue: needs 1 cpus")

        page.goto(f"{server.url}/#/experiment/{experiment_id}")
        expect(page.locator("#reason")).to_have_text(reason, timeout=WAIT_MS)
        page.goto(f"{server.url}/#/")
        status = page.locator(f'tr[data-id="{experiment_id}"] [data-col="status"]')
        expect(status).to_have_attribute("title", reason, timeout=WAIT_MS)
    finally:
        factory.close()

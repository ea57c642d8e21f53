"""The experiment list's metric and param columns in a real headless Chromium: replicas of
each experiment log different metrics and params; a metric column (the value at the highest
step over the workers) and a param column are added, remembered across a reload, sorted,
and filtered by ``loss < x`` and by a param's value; a malformed filter says what is wrong."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"

# worker-0 logs loss 9 for three steps and the optimizer; worker-1 logs five steps, ending
# at the experiment's final loss (step 4, the highest: the value the list shows) and lr.
LOGGER = """
import sys
import submarine
from submarine import tracking
final, optimizer, lr = float(sys.argv[1]), sys.argv[2], sys.argv[3]
if tracking.worker_index().endswith("-0"):
    submarine.log_param("optimizer", optimizer)
    for step in range(3):
        submarine.log_metric("loss", 9.0, step=step)
else:
    submarine.log_param("lr", lr)
    for step in range(5):
        submarine.log_metric("loss", final if step == 4 else 5.0 - step, step=step)
"""

RUNS = {
    "alpha": ("0.3", "sgd", "0.1"),
    "beta": ("0.7", "adam", "0.01"),
    "gamma": ("0.5", "adamw", "0.001"),
}


def _losses(page: Page) -> Any:
    return page.locator('#experiments tbody td[data-column="metric:loss"]')


def test_metric_and_param_columns_sort_and_filter_over_every_experiment(
    page: Page, server_factory: Any
) -> None:
    server = server_factory.start()
    (server.workdir / "logger.py").write_text(LOGGER)
    ids = {}
    for name, args in RUNS.items():
        spec = make_spec(name=name, cmd=f"python logger.py {' '.join(args)}", roles={"Worker": 2})
        answer = httpx.post(f"{server.url}{API}", json=spec).json()
        assert answer["success"] is True, answer
        ids[name] = answer["result"]["experimentId"]

    def summarised() -> bool:
        held = httpx.get(f"{server.url}/api/metric/summary").json()["result"]["experiments"]
        return all(
            ids[name] in held
            and held[ids[name]]["metrics"].get("loss", {}).get("value") == float(final)
            and set(held[ids[name]]["params"]) == {"optimizer", "lr"}
            for name, (final, _, _) in RUNS.items()
        )

    def state() -> str:
        return httpx.get(f"{server.url}/api/metric/summary").text

    wait_until(summarised, what=lambda: f"every replica's values, not {state()}", timeout=120)

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/#/")
    expect(page.locator("#count")).to_have_text("3 of 3")
    page.locator("#columns summary").click()
    page.locator('#column-choices input[value="metric:loss"]').check()
    page.locator('#column-choices input[value="param:optimizer"]').check()
    expect(page.locator('#experiments th[data-sort="metric:loss"]')).to_have_text("loss")
    expect(page.locator('#experiments th[data-sort="param:optimizer"]')).to_have_text("optimizer")
    beta = page.locator(f'#experiments tr[data-id="{ids["beta"]}"]')
    expect(beta.locator('td[data-column="metric:loss"]')).to_have_text("0.7")
    expect(beta.locator('td[data-column="param:optimizer"]')).to_have_text("adam")

    # Remembered in this browser.
    page.reload()
    expect(_losses(page)).to_have_count(3)

    sort = page.locator('#experiments button[data-sort="metric:loss"]')
    sort.click()  # a metric sorts highest first, then lowest first
    expect(_losses(page)).to_have_text(["0.7", "0.5", "0.3"])
    expect(page.locator('#experiments th[data-sort="metric:loss"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    sort.click()
    expect(_losses(page)).to_have_text(["0.3", "0.5", "0.7"])

    metric = page.locator("#filter-metric")
    metric.fill("loss <")
    expect(page.locator("#filter-error")).to_contain_text('Metric filter "loss <" is not valid')
    expect(metric).to_have_attribute("aria-invalid", "true")
    metric.fill("loss < 0.6")
    expect(page.locator("#filter-error")).to_have_text("")
    expect(_losses(page)).to_have_text(["0.3", "0.5"])
    expect(page.locator("#count")).to_have_text("2 of 3")

    param = page.locator("#filter-param")
    param.fill("optimizer ~ ADAM")  # contains, in any case: adamw (0.5), not sgd
    expect(_losses(page)).to_have_text(["0.5"])
    metric.fill("")
    expect(_losses(page)).to_have_text(["0.5", "0.7"])
    param.fill("optimizer = adam")  # equals: adam only
    expect(page.locator("#experiments tbody tr")).to_have_count(1)
    expect(page.locator("#experiments tbody tr")).to_have_attribute("data-id", ids["beta"])
    param.fill("lr = 0.001")  # a param another replica of the experiment logged
    expect(page.locator("#experiments tbody tr")).to_have_attribute("data-id", ids["gamma"])
    param.fill("= 1")
    expect(page.locator("#filter-error")).to_contain_text('Param filter "= 1" is not valid')
    assert not errors, errors

    # While nothing changes the summary is not sent again.
    page.wait_for_event(
        "response",
        predicate=lambda r: r.url.endswith("/api/metric/summary") and r.status == 304,
        timeout=30_000,
    )

"""The workbench's charts of what 0.8.0's semantics record: a metric logged without a step
(step 0, as in 0.8.0) is drawn in the order its values came, and NaN and infinities, which
no chart can draw, are left out."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningServer
from tests.e2e.test_workbench import API, _create, _script
from tests.e2e.test_workbench import workbench as workbench
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

UNSTEPPED = """
import math
import submarine
for value in (1.0, 2.0, math.inf, math.nan, -math.inf, 3.0):
    submarine.log_metric("loss", value)  # no step
submarine.log_metric("acc", 0.5, step=4)
submarine.log_metric("acc", 0.75, step=9)
"""


def test_a_metric_without_steps_is_drawn_in_the_order_it_came(
    page: Page,
    workbench: RunningServer,
) -> None:
    script = _script(workbench, "unstepped.py", UNSTEPPED)
    experiment_id = _create(workbench, make_spec(name="unstepped", cmd=f"python {script}"))
    wait_until(
        lambda: (
            httpx.get(f"{workbench.url}{API}/{experiment_id}").json()["result"]["status"]
            in ("Succeeded", "Failed")
        ),
        what="the experiment to finish",
        timeout=120,
    )
    page.goto(f"{workbench.url}/#/experiment/{experiment_id}")
    loss = page.locator('#charts figure[data-key="loss"]')
    expect(loss.locator(".stats")).to_contain_text("worker-0 (6)")
    expect(loss).to_have_attribute("data-points", "3")  # no NaN, no infinity
    xs = loss.evaluate("box => box.uplot.data[0]")
    assert xs == [0, 1, 5]  # places along the axis in the order they came, not one column at 0
    assert loss.locator('[data-col="last"]').inner_text() == "3"
    acc = page.locator('#charts figure[data-key="acc"]')
    expect(acc.locator(".stats")).to_contain_text("worker-0 (2)")
    assert acc.evaluate("box => box.uplot.data[0]") == [4, 9]  # by step

"""The workbench's environments in a real headless Chromium: the list (name, docker image,
kernel, pip and conda dependency counts), one environment with its kernel's dependencies,
a new one pasted or uploaded (the server's error shown when it refuses it), and deleting
one after a confirmation.

Each test makes the environments it looks at through the API. Every wait polls the page or
the API; each new view is saved as a screenshot (see :func:`browser_support.shot`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.browser_support import shot

pytestmark = pytest.mark.slow

ENVIRONMENTS = "/api/v1/environment"

LISTED: dict[str, Any] = {
    "name": "env-listed",
    "dockerImage": "python:3.11-slim",
    "description": "scikit-learn and numpy for the training script",
    "kernelSpec": {
        "name": "team-python-3",
        "channels": ["defaults", "conda-forge"],
        "pipDependencies": ["scikit-learn==1.5.2", "requests>=2.31"],
        "condaDependencies": ["numpy=1.26"],
    },
}


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("environments"))
    try:
        yield factory.start()
    finally:
        factory.close()


def _create(server: RunningServer, environment: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}{ENVIRONMENTS}", json=environment).json()
    assert answer["success"] is True, answer
    return dict(answer["result"])


def _code(server: RunningServer, name: str) -> int:
    return httpx.get(f"{server.url}{ENVIRONMENTS}/{name}").status_code


def _names(server: RunningServer) -> list[str]:
    listed = httpx.get(f"{server.url}{ENVIRONMENTS}").json()["result"]
    return [e["environmentSpec"]["name"] for e in listed]


def test_the_list_and_one_environment(page: Page, workbench: RunningServer, tmp_path: Path) -> None:
    made = _create(workbench, LISTED)
    _create(workbench, {"name": "env-bare"})
    page.goto(f"{workbench.url}/#/environments")
    expect(page.get_by_role("heading", name="Environments", level=1)).to_be_visible()
    expect(page.locator("#nav-environments")).to_have_attribute("aria-current", "page")
    row = page.locator('#environments tr[data-name="env-listed"]')
    expect(row.locator('[data-col="image"]')).to_have_text("python:3.11-slim")
    expect(row.locator('[data-col="kernel"]')).to_have_text("team-python-3")
    expect(row.locator('[data-col="pip"]')).to_have_text("2")
    expect(row.locator('[data-col="conda"]')).to_have_text("1")
    bare = page.locator('#environments tr[data-name="env-bare"]')
    expect(bare.locator('[data-col="image"]')).to_have_text("\N{EN DASH}")  # none
    expect(bare.locator('[data-col="pip"]')).to_have_text("0")
    count = len(_names(workbench))
    expect(page.locator("#environment-count")).to_have_text(f"{count} environments")
    expect(page.locator("#no-environments")).to_be_hidden()
    shot(page, tmp_path, "environments")

    row.get_by_role("link", name="env-listed", exact=True).click()
    page.wait_for_url("**/#/environment/env-listed")
    expect(page.get_by_role("heading", name="env-listed", level=1)).to_be_visible()
    expect(page.locator("#environment-description")).to_have_text(LISTED["description"])
    facts = page.locator("#environment-facts")
    expect(facts).to_contain_text(made["environmentId"])
    expect(facts).to_contain_text("defaults, conda-forge")
    expect(page.locator("#pip-dependencies li")).to_have_text(
        ["scikit-learn==1.5.2", "requests>=2.31"]
    )
    expect(page.locator("#conda-dependencies li")).to_have_text(["numpy=1.26"])
    spec = page.locator("#environment-spec")
    expect(spec).to_contain_text("pipDependencies")
    page.get_by_role("tab", name="JSON").click()
    expect(spec).to_contain_text('"dockerImage": "python:3.11-slim"')
    shot(page, tmp_path, "environment", full=True)

    page.goto(f"{workbench.url}/#/environment/env-bare")
    expect(page.get_by_role("heading", name="env-bare", level=1)).to_be_visible()
    expect(page.locator("#pip-dependencies")).to_have_text("None.")
    expect(page.locator("#conda-dependencies")).to_have_text("None.")
    expect(page.locator("#environment-description")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("null")  # nothing shown for no description

    page.goto(f"{workbench.url}/#/environment/env-never-made")
    expect(page.get_by_text("There is no such environment")).to_be_visible()


def test_a_new_environment_shows_the_servers_error_then_is_created(
    page: Page, workbench: RunningServer, tmp_path: Path
) -> None:
    page.goto(f"{workbench.url}/#/environments/new")
    expect(page.get_by_role("heading", name="New environment", level=1)).to_be_visible()
    text = page.locator("#environment-text")
    text.fill(json.dumps({"name": "Not A Name", "kernelSpec": {"pipDependencies": ["--pre"]}}))
    page.click("#create-environment")
    error = page.locator("#environment-error")
    expect(error).to_contain_text("Invalid environment spec.")
    expect(error).to_contain_text("'not-a-name'")  # the name the server suggests
    expect(error).to_contain_text("kernelSpec.pipDependencies.0")
    expect(error.locator("li")).to_have_count(2)  # one problem a line
    expect(text).to_have_attribute("aria-invalid", "true")
    assert "Not A Name" not in _names(workbench)
    shot(page, tmp_path, "environment-error")

    text.fill("")  # typing clears the error
    expect(error).to_have_text("")
    good = tmp_path / "env.yaml"
    good.write_text(
        "name: env-uploaded\n"
        "dockerImage: python:3.12\n"
        "kernelSpec:\n"
        "  name: py312\n"
        "  pipDependencies: [pandas==2.2.3]\n"
    )
    page.set_input_files("#environment-file", str(good))
    expect(text).to_have_value(good.read_text())
    page.click("#create-environment")
    page.wait_for_url("**/#/environment/env-uploaded")
    expect(page.locator("#pip-dependencies li")).to_have_text(["pandas==2.2.3"])
    stored = httpx.get(f"{workbench.url}{ENVIRONMENTS}/env-uploaded").json()["result"]
    assert stored["environmentSpec"]["kernelSpec"]["pipDependencies"] == ["pandas==2.2.3"]

    # A name taken: the server's own words.
    page.goto(f"{workbench.url}/#/environments/new")
    text.fill("name: env-uploaded\n")
    page.click("#create-environment")
    expect(error).to_contain_text("An environment named 'env-uploaded' exists already")


def test_delete_an_environment_after_a_confirmation(page: Page, workbench: RunningServer) -> None:
    _create(workbench, {"name": "env-doomed"})
    _create(workbench, {"name": "env-doomed-too"})
    page.goto(f"{workbench.url}/#/environments")
    row = page.locator('#environments tr[data-name="env-doomed"]')
    row.get_by_role("button", name="Delete environment env-doomed").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-title")).to_have_text("Delete environment?")
    expect(page.locator("#confirm-text")).to_contain_text("“env-doomed” will be deleted")
    page.click("#confirm-cancel")  # cancelling keeps it
    expect(dialog).to_be_hidden()
    assert _code(workbench, "env-doomed") == 200
    row.get_by_role("button", name="Delete environment env-doomed").click()
    page.click("#confirm-ok")
    expect(row).to_have_count(0)
    assert _code(workbench, "env-doomed") == 404

    # From its own page, which then goes back to the list.
    page.goto(f"{workbench.url}/#/environment/env-doomed-too")
    page.click("#delete-environment")
    page.click("#confirm-ok")
    page.wait_for_url("**/#/environments")
    expect(page.locator("#environments")).to_be_visible()
    expect(page.locator('#environments tr[data-name="env-doomed-too"]')).to_have_count(0)
    assert _code(workbench, "env-doomed-too") == 404

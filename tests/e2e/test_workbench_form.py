"""The new-experiment form in a real headless Chromium: a repeated role is an error at its
row (not two rows silently stored as one), a problem shows under the row it is about, and
the YAML view hides the form and carries the spec over both ways."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningServer, ServerFactory

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("workbench-form"))
    try:
        yield factory.start()
    finally:
        factory.close()


def test_a_repeated_role_is_an_error_at_its_row(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/#/new")
    page.fill("#f-name", "two-workers")
    page.fill("#f-cmd", "true")
    page.get_by_role("button", name="Add role").click()
    rows = page.locator("#f-roles .role")
    expect(rows).to_have_count(2)
    page.get_by_label("Replicas of role 2").fill("3")
    second = rows.nth(1)
    expect(second.locator(".role-error")).to_contain_text("Worker is already a role above")
    expect(second.locator(".role-name")).to_have_attribute("aria-invalid", "true")
    expect(rows.nth(0).locator(".role-error")).to_have_text("")
    expect(page.locator("#create")).to_be_disabled()
    # A role of its own makes the form valid again.
    second.locator(".role-name").select_option("Ps")
    page.get_by_label("Replicas of role 2").fill("1")
    expect(second.locator(".role-error")).to_have_text("")
    expect(page.locator("#create")).to_be_enabled()


def test_a_problem_shows_under_the_row_it_is_about(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/#/new")
    page.fill("#f-name", "row-errors")
    page.fill("#f-cmd", "true")
    page.get_by_role("button", name="Add role").click()
    rows = page.locator("#f-roles .role")
    expect(rows).to_have_count(2)
    # Row 2 repeats row 1's role, with resources the model refuses: whatever is said about
    # row 2 is said under row 2, and row 1 (valid) shows nothing.
    page.get_by_label("Resources of role 2").fill("cpu=1,memory=1.5G")
    expect(rows.nth(1).locator(".role-error")).not_to_have_text("")
    expect(page.locator("#create")).to_be_disabled()
    expect(rows.nth(0).locator(".role-error")).to_have_text("")
    expect(page.get_by_label("Resources of role 1")).not_to_have_attribute("aria-invalid", "true")
    # A role of its own: now the model's problem with its resources is under it.
    rows.nth(1).locator(".role-name").select_option("Ps")
    expect(rows.nth(1).locator(".role-error")).to_contain_text("memory")
    expect(rows.nth(0).locator(".role-error")).to_have_text("")


def test_the_yaml_view_hides_the_form(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/#/new")
    page.fill("#f-name", "hidden-form")
    page.get_by_role("tab", name="YAML / JSON").click()
    expect(page.locator("#spec-editor")).to_be_visible()
    expect(page.locator("#spec-form")).to_be_hidden()
    page.get_by_role("tab", name="Form").click()
    expect(page.locator("#spec-form")).to_be_visible()
    expect(page.locator("#spec-editor")).to_be_hidden()


def test_the_form_and_the_yaml_view_stay_in_sync(page: Page, server: RunningServer) -> None:
    page.goto(f"{server.url}/#/new")
    page.fill("#f-name", "synced")
    page.fill("#f-cmd", "python train.py")
    page.fill("#f-tags", "a, b")
    page.get_by_role("tab", name="YAML / JSON").click()
    text = page.locator("#spec-text")
    expect(text).to_have_value(re.compile(r"name: synced"))
    assert "cmd: python train.py" in text.input_value()
    assert "- a" in text.input_value()
    changed = text.input_value().replace("name: synced", "name: from-yaml")
    text.fill(changed.replace("replicas: 1", "replicas: 2"))
    page.get_by_role("tab", name="Form").click()
    expect(page.locator("#spec-form")).to_be_visible()
    expect(page.locator("#f-name")).to_have_value("from-yaml")
    expect(page.get_by_label("Replicas of role 1")).to_have_value("2")
    expect(page.locator("#f-tags")).to_have_value("a, b")

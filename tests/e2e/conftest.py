"""The browser fixtures of the workbench's tests: one headless Chromium per test module
(Debian's ``chromium``, driven by Playwright) and a fresh page per test, which fails the
test when the page threw an error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.e2e.browser_support import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """A headless Chromium for the module's tests."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs chromium"
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page of its own (1280x800); the test fails if a script of the page threw."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, errors

"""What the browser tests of the workbench share that is not a fixture: where Chromium is,
how it is started, how long a page state may take, and saving a page as a screenshot.

The fixtures (``playwright``, ``browser``, ``page``) are in this package's ``conftest``.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "WAIT_MS", "shot"]

CHROMIUM = os.environ.get("SUBMARINE_TEST_CHROMIUM", "/usr/bin/chromium")
"""Debian's ``chromium``, or the one ``SUBMARINE_TEST_CHROMIUM`` names."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless, and nothing that reaches out of the machine."""
WAIT_MS = 60_000
"""How long a page state may take to come (Playwright's ``expect`` polls until then)."""

expect.set_options(timeout=WAIT_MS)


def shot(page: Page, into: Path, name: str, *, full: bool = False) -> None:
    """Save the page as ``workbench-NAME.png``: into ``into`` (a test's temporary
    directory), or into the directory named by ``SUBMARINE_SCREENSHOTS`` (``make
    screenshots`` writes the README's, under ``docs/``)."""
    chosen = os.environ.get("SUBMARINE_SCREENSHOTS")
    directory = Path(chosen) if chosen else into
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"workbench-{name}.png"), full_page=full)
    assert (directory / f"workbench-{name}.png").stat().st_size > 0

"""Headless Chromium for the tests that look at what a person sees (the Dagster UI, the monthly report).

Playwright drives Debian's ``chromium`` (``apt-get install chromium``); it never downloads a browser of its own.
A missing browser fails the test with the package to install: it is part of the test environment, like Python.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Screenshots and page dumps the browser tests keep, for a person to look at after the run.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def chromium_path() -> str:
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("no Chromium on PATH: install Debian's package (apt-get install chromium)")


@contextmanager
def browser_page(width: int = 1400, height: int = 900) -> Iterator:
    """A fresh page in headless Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def artifact(name: str) -> Path:
    """Where a test keeps one artifact (a screenshot, a page's text), under test-artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name

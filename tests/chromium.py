"""Debian's Chromium for the browser tests, driven by Playwright (its own browser download
does not work here). ``make test`` installs the Debian package ``chromium`` when it can,
else stops and names it; run by hand without it, a browser test fails saying so rather
than skipping, since a skipped browser test would leave the pages unchecked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def launched() -> Iterator[Any]:
    """A headless Chromium, closed at the end."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package 'chromium' "
                    "(make test does it when it can)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()

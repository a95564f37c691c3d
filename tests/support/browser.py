"""Open Prefect UI pages in a real headless Chromium (Debian's package, driven by Playwright).

Why a browser and not httpx: the UI is a single-page app that asks ``/ui-settings`` where the
API is and then fetches everything from there; only a browser running its JavaScript shows
whether a person would see runs or "Can't connect to Server API".

Chromium is started the way this machine needs it (see the env tool's machine notes): headless,
no sandbox (root), and no background networking, whose connections the closed network refuses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("BRIDGE_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_ENV = "BRIDGE_REQUIRE_BROWSER"
"""Set (to 1) by ``.ci/run``, which installs Chromium: there a missing browser fails the test."""
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UNREACHABLE = "Can't connect to Server API"
PAGE_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class PageCheck:
    """A UI path, the texts a person must see on it, and the screenshot's file name."""

    path: str
    expect: Sequence[str]
    screenshot: str


@dataclass
class PageSeen:
    """What the browser showed for one :class:`PageCheck`."""

    url: str
    screenshot: Path
    missing: list[str] = field(default_factory=list)
    unreachable: bool = False
    console_errors: list[str] = field(default_factory=list)


def require_chromium() -> None:
    """Skip (with the reason) when Chromium is absent, unless CI asked for it."""
    if CHROMIUM.exists():
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{CHROMIUM} is missing but {REQUIRE_ENV}=1 (.ci/run installs it)")
    pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)")


def open_pages(ui_url: str, checks: Sequence[PageCheck], out_dir: Path) -> list[PageSeen]:
    """Visit every page in one browser; wait (up to a minute) for its texts; screenshot it."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    seen: list[PageSeen] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            for check in checks:
                errors.clear()
                url = ui_url.rstrip("/") + check.path
                page.goto(url, wait_until="networkidle", timeout=PAGE_TIMEOUT_MS)
                result = PageSeen(url=url, screenshot=out_dir / check.screenshot)
                for text in check.expect:
                    try:
                        page.get_by_text(text).first.wait_for(timeout=PAGE_TIMEOUT_MS)
                    except PlaywrightError:
                        result.missing.append(text)
                page.wait_for_timeout(500)  # let the page finish painting before the shot
                page.screenshot(path=str(result.screenshot), full_page=False)
                result.unreachable = UNREACHABLE in page.inner_text("body")
                result.console_errors = list(errors)
                seen.append(result)
        finally:
            browser.close()
    return seen

"""Real-browser testing: Playwright driving Debian's chromium (never Playwright's own download)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = Path(os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium"))
# Screenshots for people to look at: outside the checkout, which tests never write into.
ARTIFACTS = (
    Path(os.environ.get("IDP_TEST_ARTIFACTS", Path(tempfile.gettempdir()) / "idp-test-artifacts"))
    / "browser"
)
# Flags for a closed network and a root user (see the machine notes): no sandbox, no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

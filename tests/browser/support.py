"""What every browser test shares: Debian's Chromium, the flags it needs in a
container without a display, where screenshots go (test-artifacts/ at the
repository's root, git-ignored), and signing in."""

from __future__ import annotations

from typing import Any

from tests.conftest import ROOT
from tests.radreview.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def log_in(page: Any, base_url: str, username: str, *, then: str = "h1:has-text('Welcome')") -> None:
    """Sign in through the login form and wait for `then` (the home page by default)."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector(then)

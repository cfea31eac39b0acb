"""What every browser test shares: Debian's Chromium, the flags it needs in a
container without a display, and where screenshots go (test-artifacts/, git-ignored)."""

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

TEST_PASSWORD = "pw-for-tests-1"  # the factories' password


def log_in(page, base_url: str, username: str, *, then: str = "h1:has-text('Welcome')") -> None:  # type: ignore[no-untyped-def]
    """Sign in through the login form and wait for `then` (the home page by default)."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector(then)

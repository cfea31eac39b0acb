"""The browser tests' Chromium and page. A module sets its window size by overriding
the `viewport` fixture. The page records what the tests assert never happens:
script errors (page.errors: uncaught exceptions and console errors) and dialogs
(page.dialogs, each dismissed). After every test, no Content-Security-Policy violation
may have been reported."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.support import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1200, "height": 800}


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Debian's Chromium, launched through Playwright for one test."""
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop; Django refuses ORM calls from such a thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, viewport: dict[str, int]) -> Iterator[Any]:
    page = chromium.new_page(viewport=viewport)
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: _console(errors, msg))
    page.on("dialog", lambda d: _dismiss(dialogs, d))
    page.errors = errors
    page.dialogs = dialogs
    yield page
    # Whatever else a test checks: the Content-Security-Policy blocked nothing the app does.
    assert [e for e in errors if "Content Security Policy" in e] == []


def _dismiss(dialogs: list[str], dialog: Any) -> None:
    dialogs.append(dialog.message)
    dialog.dismiss()


def _console(errors: list[str], msg: Any) -> None:
    if msg.type == "error" and "favicon" not in msg.location.get("url", ""):
        errors.append(msg.text)

"""The login page and role home pages in a real browser (Debian's Chromium)."""

import os

import pytest

from tests.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.fixture
def page(monkeypatch):  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop; Django refuses ORM calls from such a thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs  # type: ignore[attr-defined]
        yield page
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_each_role_logs_in_and_sees_its_home(live_server, page):
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    ARTIFACTS.mkdir(exist_ok=True)
    for username, role, expected in (
        ("ann-b", "annotator", "Welcome, ann-b"),
        ("boss-b", "admin", "Import reports"),
    ):
        UserFactory(username=username).groups.add(Group.objects.get(name=role))
        page.goto(f"{live_server.url}/")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", username)
        page.fill("#id_password", "pw-for-tests-1")
        page.click("main button[type=submit]")
        page.wait_for_selector("h1:has-text('Welcome')")
        assert expected in page.inner_text("main")
        assert page.inner_text(".who").split() == [username, role, "Log", "out"]
        page.screenshot(path=str(ARTIFACTS / f"home-{role}.png"))
        page.click("header button:has-text('Log out')")
        page.wait_for_selector("#id_username")
    assert page.dialogs == []  # type: ignore[attr-defined]

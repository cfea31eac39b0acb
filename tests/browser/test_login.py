"""The login page and role home pages in a real browser (Debian's Chromium)."""

import os

import pytest

from tests.browser.support import ARTIFACTS, CHROMIUM
from tests.radreview.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_each_role_logs_in_and_sees_its_home(live_server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    for username, role, expected in (
        ("ann-b", "annotator", "Welcome, ann-b"),
        ("boss-b", "admin", "Import reports"),
    ):
        UserFactory(username=username, role=role)
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
    assert page.dialogs == []

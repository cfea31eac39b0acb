"""The rules page's search in a real browser (Debian's Chromium through Playwright): typing
asks the server (htmx, debounced), the table shrinks to the matching triggers and the URL
keeps the query. Screenshots go to test-artifacts/."""

import os

import pytest

from annotations.models import AssertionTrigger
from tests.annotations.factories import modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_typing_in_the_search_box_filters_the_triggers(live_server, page):
    from annotations.services.rules import rules_seed

    modality("chest_ct")  # reloads the schema a transactional test flushed
    rules_seed()  # and the default rules
    UserFactory(username="admin-rules", role="admin")
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page, live_server.url, "admin-rules")
    page.goto(f"{live_server.url}/annotations/rules/")
    total = AssertionTrigger.objects.count()
    assert page.inner_text("#trigger-count") == str(total)
    assert page.locator("#trigger-table tbody tr").count() == 50  # the first page

    page.fill("#rule-q", "not detect")
    expected = AssertionTrigger.objects.filter(phrase__icontains="not detect").count()
    page.wait_for_selector(f"#trigger-count:has-text('{expected} of {total}')")
    phrases = page.locator("#trigger-table tbody tr td:first-child").all_inner_texts()
    assert len(phrases) == expected and all("not detect" in p for p in phrases)
    assert "q=not+detect" in page.url  # the search is in the address: reload, share, back
    assert page.input_value("#rule-q") == "not detect"  # the box kept its text and focus
    page.select_option("#rule-filters select[name=direction]", "FWD")
    fwd = AssertionTrigger.objects.filter(phrase__icontains="not detect", direction="FWD").count()
    page.wait_for_selector(f"#trigger-count:has-text('{fwd} of {total}')")
    page.screenshot(path=str(ARTIFACTS / "rules-search.png"), full_page=True)
    assert page.errors == []

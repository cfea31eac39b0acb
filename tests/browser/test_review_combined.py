"""A combined finding's provenance in a real browser (Debian's Chromium through
Playwright): the clinician sees which source decided each finding, the other
sources' verdicts and the disagreement flags in words, and the prompt panel of
a report no LLM was asked about. Screenshot: test-artifacts/review-combined.png."""

import os

import pytest

from review.services import sync_report_findings
from tests.annotations.factories import modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory
from tests.review.factories import combined_report_with_sources

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_clinician_sees_who_decided_each_combined_finding(live_server, chromium):
    modality("chest_ct")
    UserFactory(username="clin-combined", role="clinician")
    review = sync_report_findings(combined_report_with_sources())
    ids = {f.key: f.pk for f in review.findings.all()}
    ARTIFACTS.mkdir(exist_ok=True)
    page = chromium.new_page(viewport={"width": 1440, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, "clin-combined")
    page.goto(f"{live_server.url}/review/{review.report_id}/")
    page.wait_for_selector("#report-text")
    nodule = f"#finding-{ids['nodule']}"
    assert page.inner_text(f"{nodule} .f-source") == "LLM"
    assert page.inner_text(f"{nodule} .f-verdicts") == "Rules: negated (historical); Stage 1: 0.88 present"
    chips = page.eval_on_selector_all(f"{nodule} .chip.flag", "els => els.map(e => e.textContent)")
    assert chips == [
        "Historical or resolved",
        "Rules and stage 1 disagree",
        "LLM disagrees with the rules",
    ]
    consolidation = f"#finding-{ids['consolidation']}"
    assert page.inner_text(f"{consolidation} .f-source") == "Rules + LLM"
    assert page.inner_text(f"{consolidation} .f-verdicts") == "Stage 1: 0.91 present"
    ggo = f"#finding-{ids['ground-glass opacity']}"
    assert page.inner_text(f"{ggo} .f-source") == "Stage 1"
    assert page.inner_text(f"{ggo} .f-verdicts") == "LLM: not mentioned"
    # The report text's markup is text, not HTML.
    assert "<b>Hazy</b>" in page.inner_text("#report-text")
    page.click(f"{consolidation} details.provenance summary")
    page.wait_for_selector(f"{consolidation} .prov-body:has-text('No LLM call')")
    page.locator(nodule).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "review-combined.png"), full_page=True)
    assert errors == []

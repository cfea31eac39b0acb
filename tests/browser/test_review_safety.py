"""Issue 18 in a real browser: the flagged-approval guard and reject by number key.

A clinician on a report whose mass the LLM quoted from nowhere presses a: a panel
names the flags and nothing is saved; a second a still saves nothing; Enter
without a selected span cannot approve; with the words selected in the report,
Enter approves and the selection becomes the evidence. On another report, one
number key rejects with that reason, r then a number key too, x selects and a
approves the selection (skipping the flagged finding, and saying so), and u
undoes. Screenshots go to test-artifacts/.
"""

import os

import pytest

from review.models import ReviewDecision, ReviewFinding
from review.services import sync_report_findings
from tests.annotations.factories import ReportFactory, modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.browser.test_review import SELECT_JS
from tests.inference.factories import (
    ModelVersionFactory,
    Stage1PredictionFactory,
    Stage2PredictionFactory,
    finding,
)
from tests.radreview.factories import UserFactory
from tests.review.factories import chest_report_with_predictions

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]

TEXT = "Plate-like atelectasis in the left lower lobe. Mild bronchiectasis in both lungs. 우상엽 정상."


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1440, "height": 900}


def _hallucinated_review():
    report = ReportFactory(text=TEXT, external_id="hallu-1")
    mv = ModelVersionFactory(thresholds={"mass": 0.5, "bronchiectasis": 0.5})
    Stage1PredictionFactory(
        report=report,
        model_version=mv,
        probabilities={"mass": 0.9, "bronchiectasis": 0.9},
        predicted_keys=["mass", "bronchiectasis"],
    )
    Stage2PredictionFactory(
        report=report,
        stage1_version=mv,
        findings=[
            finding(TEXT, "mass", "Possible mild interstitial thickening", locations=["right upper lobe"]),
            finding(TEXT, "bronchiectasis", "Mild bronchiectasis in both lungs", locations=["both lungs"]),
        ],
    )
    return sync_report_findings(report)


def _status(page, finding_id: int, label: str) -> None:
    page.wait_for_selector(f"#finding-{finding_id} header .status:has-text('{label}')")


@pytest.mark.django_db(transaction=True)
def test_a_flagged_finding_is_approved_only_through_its_confirm_panel(live_server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    modality("chest_ct")
    UserFactory(username="clin-guard", role="clinician")
    review = _hallucinated_review()
    mass = review.findings.get(key="mass")
    log_in(page, live_server.url, "clin-guard")
    page.goto(f"{live_server.url}/review/{review.report_id}/")
    card = f"#finding-{mass.pk}"
    page.focus(card)

    page.keyboard.press("a")
    panel = page.wait_for_selector(f"{card} .confirm-panel", state="visible")
    said = panel.inner_text()
    assert "mass is flagged" in said and "possible hallucination" in said
    assert "evidence not found in the report" in said and "Its evidence is not in the report" in said
    assert page.is_disabled(f"{card} .act-approve-confirm")  # nothing selected yet
    page.screenshot(path=str(ARTIFACTS / "review-safety-1-confirm-panel.png"), full_page=True)
    page.keyboard.press("a")  # a double a is no confirmation
    page.keyboard.press("Enter")  # nor is Enter before the evidence is selected
    page.wait_for_timeout(300)
    assert ReviewFinding.objects.get(pk=mass.pk).status == "pending"
    assert not ReviewDecision.objects.exists()

    span = page.evaluate(SELECT_JS, "Plate-like atelectasis")
    assert page.inner_text(f"{card} .sel-label") == "Evidence: “Plate-like atelectasis”"
    # The same selection pre-fills "Add a missed finding" with the key the lexicon reads in it.
    page.wait_for_selector(f"#add-start[value='{span['start']}']", state="attached")
    assert page.input_value("#add-key") == "atelectasis"
    page.screenshot(path=str(ARTIFACTS / "review-safety-2-span-selected.png"), full_page=True)
    page.keyboard.press("Enter")
    _status(page, mass.pk, "Approved")
    assert page.locator(f"{card} .act-undo").is_visible()
    assert page.locator(f"{card} .act-approve, {card} .act-confirm").count() == 0
    page.screenshot(path=str(ARTIFACTS / "review-safety-3-approved.png"), full_page=True)
    mass.refresh_from_db()
    assert (mass.status, mass.evidence, mass.evidence_start, mass.evidence_end) == (
        "approved",
        "Plate-like atelectasis",
        span["start"],
        span["end"],
    )
    assert [(d.action, d.after["evidence"]) for d in ReviewDecision.objects.all()] == [
        ("approve", "Plate-like atelectasis")
    ]
    assert page.dialogs == [] and page.errors == []


@pytest.mark.django_db(transaction=True)
def test_reject_by_number_key_bulk_approve_and_undo(live_server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    modality("chest_ct")
    UserFactory(username="clin-keys", role="clinician")
    review = sync_report_findings(chest_report_with_predictions(external_id="keys-1"))
    f = {x.key: x.pk for x in review.findings.all()}
    log_in(page, live_server.url, "clin-keys")
    page.goto(f"{live_server.url}/review/{review.report_id}/")
    reasons = page.inner_text("#rv-reasons")
    assert "4 Wrong key" in reasons and "5 Wrong evidence quote" in reasons and "7 Other" in reasons
    page.screenshot(path=str(ARTIFACTS / "review-safety-4-reasons.png"), full_page=True)

    page.focus(f"#finding-{f['nodule']}")
    page.keyboard.press("4")  # one keystroke: wrong key
    _status(page, f["nodule"], "Rejected")
    page.focus(f"#finding-{f['bronchiectasis']}")
    page.keyboard.press("r")
    page.wait_for_selector(f"#finding-{f['bronchiectasis']} .act-reject[open]")
    page.screenshot(path=str(ARTIFACTS / "review-safety-5-reject-open.png"), full_page=True)
    page.keyboard.press("5")  # two keystrokes: wrong evidence
    _status(page, f["bronchiectasis"], "Rejected")
    assert "Wrong key" in page.inner_text(f"#finding-{f['nodule']} .f-state")

    # x on the consolidation (flagged: near threshold) and the atelectasis (stage 1 only), then a.
    page.focus(f"#finding-{f['consolidation']}")
    page.keyboard.press("x")
    page.focus(f"#finding-{f['atelectasis']}")
    page.keyboard.press("x")
    assert page.inner_text("#bulk-count") == "2 selected"
    page.screenshot(path=str(ARTIFACTS / "review-safety-6-selection.png"), full_page=True)
    page.keyboard.press("a")
    notice = page.wait_for_selector("#rv-notice").inner_text()
    assert notice.startswith("Approved 0 findings. Skipped 2: 2 flagged")
    page.screenshot(path=str(ARTIFACTS / "review-safety-7-bulk-skipped.png"), full_page=True)

    page.focus(f"#finding-{f['nodule']}")
    page.keyboard.press("u")
    _status(page, f["nodule"], "Pending")
    rows = {x.key: (x.status, x.reason_code) for x in ReviewFinding.objects.filter(review=review)}
    assert rows == {
        "nodule": ("pending", ""),
        "bronchiectasis": ("rejected", "wrong_evidence"),
        "consolidation": ("pending", ""),
        "atelectasis": ("pending", ""),
    }
    audit = [(d.action, d.finding.key, d.reason_code) for d in ReviewDecision.objects.filter(review=review)]
    assert audit == [
        ("reject", "nodule", "wrong_key"),
        ("reject", "bronchiectasis", "wrong_evidence"),
        ("undo", "nodule", ""),
    ]
    assert page.dialogs == [] and page.errors == []

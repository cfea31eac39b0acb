"""Clinician review in a real browser (Debian's Chromium through Playwright).

A clinician opens a chest CT report whose text holds a <script> tag and Korean,
adds a finding the models missed by selecting text, approves one finding by
keyboard, edits the locations of another, rejects a third with a reason, and
approves the last, upon which the next report of the queue opens. The database
and the audit trail hold exactly those decisions, and no dialog ever opened.
Screenshots go to test-artifacts/.
"""

import os

import pytest

from review.models import ReviewDecision, ReviewFinding, ReviewReport
from review.services import sync_report_findings
from tests.annotations.factories import modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory
from tests.review.factories import chest_report_with_predictions

TEXT = (
    "<script>alert(1)</script> 🫁 흉부 CT\n"
    "FINDINGS:\n"
    "우상엽에 5 mm 결절 있음. Small nodule in the RUL.\n"
    "Consolidation in the left lower lobe and lingula.\n"
    "Mild bronchiectasis in both lungs.\n"
    "좌측 흉막 비후 있음. No pleural effusion."
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]

SELECT_JS = """(needle) => {
  const root = document.getElementById("report-text");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = []; let text = "";
  while (walker.nextNode()) {
    nodes.push([walker.currentNode, text.length]);
    text += walker.currentNode.data;
  }
  const at = text.indexOf(needle);
  if (at < 0) throw new Error("not found: " + needle);
  const locate = (pos) => {
    for (let i = nodes.length - 1; i >= 0; i--) {
      if (nodes[i][1] <= pos) return [nodes[i][0], pos - nodes[i][1]];
    }
  };
  const range = document.createRange();
  range.setStart(...locate(at)); range.setEnd(...locate(at + needle.length));
  const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
  root.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
  return window.RadReview.selectedSpan();
}"""


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1440, "height": 1000}


def _status(page, finding_id: int, label: str) -> None:
    page.wait_for_selector(f"#finding-{finding_id} header .status:has-text('{label}')")


@pytest.mark.django_db(transaction=True)
def test_clinician_approves_edits_rejects_and_adds(live_server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    modality("chest_ct")
    UserFactory(username="clin-browser", role="clinician")
    review = sync_report_findings(chest_report_with_predictions(text=TEXT, external_id="evil-1"))
    following = sync_report_findings(chest_report_with_predictions(external_id="next-1"))
    f = {x.key: x.pk for x in review.findings.all()}
    assert set(f) == {"nodule", "consolidation", "bronchiectasis", "atelectasis"}

    log_in(page, live_server.url, "clin-browser")
    page.goto(f"{live_server.url}/review/")
    page.screenshot(path=str(ARTIFACTS / "review-0-queue.png"), full_page=True)
    page.click("text=evil-1")
    page.wait_for_selector("#report-text")
    # The script is text on the page, not code.
    assert "<script>alert(1)</script>" in page.inner_text("#report-text")
    page.hover(f"#finding-{f['nodule']}")
    assert page.eval_on_selector_all(
        "#report-text .seg.ev-focus", "els => els.map(e => e.textContent).join('')"
    ) == ("Small nodule in the RUL")
    page.screenshot(path=str(ARTIFACTS / "review-1-open.png"), full_page=True)

    # Add a missed finding by selecting its text.
    span = page.evaluate(SELECT_JS, "좌측 흉막 비후")
    start = TEXT.index("좌측 흉막 비후")
    assert (span["start"], span["end"]) == (start, start + len("좌측 흉막 비후"))
    # The server reads the selection with the lexicon and pre-fills the form.
    page.wait_for_selector(f"#add-start[value='{start}']", state="attached")
    page.keyboard.press("n")
    page.select_option("#add-key", "pleural thickening")
    page.check("#add-form input[name=locations][value=pleura]")
    page.click("#add-submit")
    page.wait_for_selector(".finding.rv-f-added")

    # Approve the nodule by keyboard.
    page.focus(f"#finding-{f['nodule']}")
    page.keyboard.press("a")
    _status(page, f["nodule"], "Approved")

    # Edit the consolidation's locations: add the lingula.
    page.focus(f"#finding-{f['consolidation']}")
    page.keyboard.press("e")
    page.check(f"#finding-{f['consolidation']} .act-edit input[name=locations][value=lingula]")
    # Its stage 1 probability is near the threshold: the edit names that and asks for a tick.
    page.check(f"#finding-{f['consolidation']} .act-edit input[name=confirm]")
    page.click(f"#finding-{f['consolidation']} .act-edit-submit")
    _status(page, f["consolidation"], "Edited")
    assert page.get_attribute("button[aria-label='consolidation in lingula']", "aria-pressed") == "true"

    # Reject the bronchiectasis with a reason.
    page.focus(f"#finding-{f['bronchiectasis']}")
    page.keyboard.press("r")
    page.keyboard.press("7")  # "other": the comment field opens, Enter rejects with it
    page.fill(f"#finding-{f['bronchiectasis']} .act-reject input[name=comment]", "old, known")
    page.keyboard.press("Enter")
    _status(page, f["bronchiectasis"], "Rejected")
    page.screenshot(path=str(ARTIFACTS / "review-2-decided.png"), full_page=True)

    # Provenance is one click away.
    page.click(f"#finding-{f['nodule']} .provenance summary")
    page.wait_for_selector(f"#finding-{f['nodule']} .prov-raw")
    page.screenshot(path=str(ARTIFACTS / "review-3-provenance.png"), full_page=True)

    # The last pending finding: approving it verifies the report and opens the next one.
    # Stage 1 alone names atelectasis, with no evidence: a opens the panel, the
    # clinician selects the words that show it, Enter approves.
    page.focus(f"#finding-{f['atelectasis']}")
    page.keyboard.press("a")
    page.wait_for_selector(f"#finding-{f['atelectasis']} .confirm-panel", state="visible")
    page.evaluate(SELECT_JS, "5 mm 결절")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/review/{following.report_id}/")
    page.wait_for_selector("h1:has-text('next-1')")
    page.screenshot(path=str(ARTIFACTS / "review-4-next.png"), full_page=True)
    # On the next report, a grid cell toggles a location of its lesion.
    page.click("#grid button[aria-label='nodule in lingula']")
    page.wait_for_selector("#grid button[aria-label='nodule in lingula'][aria-pressed=true]")
    moved = ReviewFinding.objects.get(review=following, key="nodule")
    assert (moved.status, sorted(moved.locations)) == ("edited", ["lingula", "right upper lobe"])

    rows = {x.key: x for x in ReviewFinding.objects.filter(review=review)}
    assert {k: x.status for k, x in rows.items()} == {
        "nodule": "approved",
        "consolidation": "edited",
        "bronchiectasis": "rejected",
        "atelectasis": "approved",
        "pleural thickening": "added",
    }
    assert sorted(rows["consolidation"].locations) == ["left lower lobe", "lingula"]
    assert rows["pleural thickening"].evidence == "좌측 흉막 비후"
    assert rows["bronchiectasis"].reason_code == "other"
    audit = [(d.action, d.finding.key, d.user.username) for d in ReviewDecision.objects.filter(review=review)]
    assert audit == [
        ("add", "pleural thickening", "clin-browser"),
        ("approve", "nodule", "clin-browser"),
        ("edit", "consolidation", "clin-browser"),
        ("reject", "bronchiectasis", "clin-browser"),
        ("approve", "atelectasis", "clin-browser"),
    ]
    assert ReviewReport.objects.get(pk=review.pk).status == "verified"

    page.goto(f"{live_server.url}/review/{review.report_id}/history")
    page.wait_for_selector("#history")
    page.screenshot(path=str(ARTIFACTS / "review-5-history.png"), full_page=True)
    assert page.dialogs == []
    assert page.errors == []

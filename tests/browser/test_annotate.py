"""The annotation workspace in a real browser (Debian's Chromium through Playwright).

An annotator logs in, opens a mixed Korean/English report that starts with an
emoji (so UTF-16 and code-point offsets differ), selects spans with a DOM Range,
assigns keys by keyboard, picks a suggestion by click and accepts it with Enter
(negated, as the rules read it), toggles the flag, pairs the
lesion with its location, moves the lesion's span (keeping the pair), submits,
and the database holds exactly those spans.
Screenshots go to test-artifacts/.
"""

import os

import pytest

from annotations.models import Assignment, Mention, Relation
from tests.annotations.factories import AssignmentFactory, ReportFactory, entity_key, modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory

TEXT = (
    "🫁 흉부 CT (Chest CT)\r\n"
    "FINDINGS:\n"
    "우상엽에 5 mm 결절 있음. Small nodule in the RUL.\n"
    "No pleural effusion.\n"
    "IMPRESSION: 우상엽 결절, f/u 권유."
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]

# Select the n-th occurrence of `needle` inside #report-text with a DOM Range
# spanning however many text nodes it needs, then let the page see a mouseup.
SELECT_JS = """([needle, nth]) => {
  const root = document.getElementById("report-text");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = []; let text = "";
  while (walker.nextNode()) {
    nodes.push([walker.currentNode, text.length]);
    text += walker.currentNode.data;
  }
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error("not found: " + needle);
  const locate = (pos) => {
    for (let i = nodes.length - 1; i >= 0; i--) {
      if (nodes[i][1] <= pos) return [nodes[i][0], pos - nodes[i][1]];
    }
  };
  const range = document.createRange();
  range.setStart(...locate(at));
  range.setEnd(...locate(at + needle.length));
  const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
  range.startContainer.parentElement.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
  return window.RadAnnotate.selectedSpan();
}"""


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1400, "height": 900}


def _span(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    return at, at + len(needle)


def _wait_for_mentions(page, n: int) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('#mention-panel .mention-row').length === {n}")


@pytest.mark.django_db(transaction=True)
def test_annotator_labels_pairs_and_submits_a_mixed_korean_report(live_server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    modality("chest_ct")  # reloads the schema a transactional test flushed
    annotator = UserFactory(username="ann-browser", role="annotator")
    assignment = AssignmentFactory(
        report=ReportFactory(text=TEXT, external_id="mixed-1"), annotator=annotator
    )

    log_in(page, live_server.url, "ann-browser")
    page.goto(f"{live_server.url}/annotations/queue/")
    page.click("text=mixed-1")
    page.wait_for_selector("#report-text")
    page.screenshot(path=str(ARTIFACTS / "annotate-1-open.png"), full_page=True)

    # 1. A span across a suggestion boundary ("결절" is an entity value), after an
    #    astral emoji and a CRLF: the browser must send code-point offsets.
    selected = page.evaluate(SELECT_JS, ["5 mm 결절", 0])
    assert (selected["start"], selected["end"]) == _span(TEXT, "5 mm 결절")
    page.keyboard.press("Digit1")  # key 1: nodule
    _wait_for_mentions(page, 1)

    # 2. The location: shift+1 is "right upper lobe" (locations take the shifted row).
    page.evaluate(SELECT_JS, ["우상엽", 0])
    page.keyboard.press("Shift+Digit1")
    _wait_for_mentions(page, 2)

    # 3. A click picks a suggestion, Enter accepts it: negated, as the rules read "No pleural
    #    effusion". "n" toggles the focused mention's flag off and on again.
    page.click("#report-text .seg.sugg:has-text('pleural effusion')")
    page.wait_for_selector("#accept-suggestion:not([hidden])")
    assert page.locator("#mention-panel .mention-row").count() == 2  # the click accepted nothing
    page.keyboard.press("Enter")
    _wait_for_mentions(page, 3)
    page.wait_for_selector("#mention-panel .mention-row.focus:has-text('pleural effusion')")
    page.wait_for_selector("#report-text .seg.m.negated")
    page.keyboard.press("n")
    page.wait_for_selector("#report-text .seg.m.negated", state="detached")
    page.keyboard.press("n")
    page.wait_for_selector("#report-text .seg.m.negated")

    # 4. Pair: focus the nodule mention, press p, click its location in the text.
    page.click("#mention-panel .mention-row:has-text('5 mm 결절') .mkey")
    page.keyboard.press("p")
    page.wait_for_selector("#workspace.pairing")
    page.click("#report-text .seg.pair-target:has-text('우상엽')")
    page.wait_for_selector("#pair-panel li.pair")
    page.wait_for_selector("#workspace:not(.pairing)")  # one pair, then pairing ends
    page.hover("#pair-panel li.pair")
    page.wait_for_selector("#report-text .seg.hl")  # hovering a pair highlights both of its spans
    page.screenshot(path=str(ARTIFACTS / "annotate-2-paired.png"))  # not full_page: resizing ends the hover

    # 4b. Fix a boundary: focus the nodule, select only "결절", press e. Its pair stays.
    page.mouse.move(0, 0)
    page.click("#mention-panel .mention-row:has-text('5 mm 결절') .mkey")
    page.evaluate(SELECT_JS, ["결절", 0])
    page.keyboard.press("e")
    page.wait_for_selector("#mention-panel .mention-row.focus .mtext:text-is('결절')")

    # 5. Type-ahead: "/" then a few letters and Enter assigns the first matching key.
    page.keyboard.press("Escape")
    page.evaluate(SELECT_JS, ["RUL", 0])
    page.keyboard.press("/")
    page.keyboard.type("upper")
    page.keyboard.press("Enter")
    _wait_for_mentions(page, 4)

    # 6. Submit with "s" (confirming if the consistency checks ask).
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    page.wait_for_selector("#ws-status:has-text('Submitted'), #submit-button:has-text('Submit anyway')")
    if page.locator("#submit-button:has-text('Submit anyway')").count():
        page.screenshot(path=str(ARTIFACTS / "annotate-3-checks.png"), full_page=True)
        page.click("#submit-button")
    page.wait_for_selector("#ws-status:has-text('Submitted')")
    page.screenshot(path=str(ARTIFACTS / "annotate-4-submitted.png"), full_page=True)

    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SUBMITTED
    got = {(m.key.name, m.start, m.end, m.negated) for m in Mention.objects.filter(assignment=assignment)}
    assert got == {
        ("nodule", *_span(TEXT, "결절"), False),
        ("right upper lobe", *_span(TEXT, "우상엽"), False),
        ("pleural effusion", *_span(TEXT, "pleural effusion"), True),
        ("right upper lobe", *_span(TEXT, "RUL"), False),
    }
    relation = Relation.objects.get(assignment=assignment)
    assert (relation.source_key, relation.target_key) == (
        entity_key("nodule"),
        entity_key("right upper lobe"),
    )
    assert (relation.source_mention.start, relation.target_mention.start) == (
        _span(TEXT, "결절")[0],
        _span(TEXT, "우상엽")[0],
    )
    assert page.errors == []

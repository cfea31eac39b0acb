"""Issue 18 in a real browser: one pair per p, delete with an undo toast that brings
the mention and its pairs back, Ctrl+Z / Ctrl+Shift+Z, a double-click on a
suggestion that accepts nothing, a Korean word selected without its particle,
previous / next report keys, and a sidebar where mentions and pairs are visible
at 1440x900. Screenshots go to test-artifacts/annotate-keyboard-*.png."""

import os
import re

import pytest

from annotations.models import Mention, Relation
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key, modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]

TEXT = (
    "FINDINGS:\n"
    "Nodule in the RUL and the LLL. Consolidation in the RML.\n"
    "우상엽의 결절은 크기 변화 없음.\n"
    "No pleural effusion. Mediastinum is unremarkable."
)


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1440, "height": 900}


def _at(needle: str) -> tuple[int, int]:
    start = TEXT.index(needle)
    return start, start + len(needle)


def _mention(assignment, key: str, needle: str):
    start, end = _at(needle)
    return MentionFactory(assignment=assignment, key=entity_key(key), start=start, end=end)


def _pair(assignment, source, target):
    return Relation.objects.create(
        report=assignment.report,
        assignment=assignment,
        source_key=source.key,
        target_key=target.key,
        source_mention=source,
        target_mention=target,
    )


@pytest.fixture
def workspace(live_server, page):
    """An annotator's report with a nodule paired to RUL and LLL, open in the browser."""
    ARTIFACTS.mkdir(exist_ok=True)
    modality("chest_ct")  # reloads the schema a transactional test flushed
    annotator = UserFactory(username="ann-keys", role="annotator")
    assignment = AssignmentFactory(
        report=ReportFactory(text=TEXT, external_id="keys-1"), annotator=annotator, rank=1
    )
    AssignmentFactory(report=ReportFactory(external_id="keys-2"), annotator=annotator, rank=2)
    nodule = _mention(assignment, "nodule", "Nodule")
    rul = _mention(assignment, "right upper lobe", "RUL")
    lll = _mention(assignment, "left lower lobe", "LLL")
    log_in(page, live_server.url, "ann-keys")
    page.goto(f"{live_server.url}/annotations/assignments/{assignment.pk}/")
    page.wait_for_selector("#report-text")
    return assignment, nodule, rul, lll


def _rows(page, n: int) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('#mention-panel .mention-row').length === {n}")


def _focus(page, needle: str) -> None:
    page.click(f"#mention-panel .mention-row:has(.mtext:text-is('{needle}')) .mkey")
    page.wait_for_selector(f"#mention-panel .mention-row.focus:has(.mtext:text-is('{needle}'))")


@pytest.mark.django_db(transaction=True)
def test_a_pair_ends_pairing_so_the_next_click_makes_no_second_pair(workspace, page):
    assignment, nodule, rul, lll = workspace
    _focus(page, "Nodule")
    page.keyboard.press("p")
    page.wait_for_selector("#workspace.pairing")
    page.click("#report-text .seg.pair-target:text-is('RUL')")
    page.wait_for_selector("#pair-panel li.pair")
    page.wait_for_selector("#workspace:not(.pairing)")
    page.click("#report-text .seg.m:text-is('LLL')")  # a plain click now: it focuses LLL
    page.wait_for_selector("#mention-panel .mention-row.focus:has(.mtext:text-is('LLL'))")
    page.screenshot(path=str(ARTIFACTS / "annotate-keyboard-1-one-pair.png"))
    rows = Relation.objects.filter(assignment=assignment)
    pairs = list(rows.values_list("source_mention", "target_mention"))
    assert pairs == [(nodule.pk, rul.pk)]

    # The Pair menu (shown under the focused mention) has no preselected target: Pair is
    # disabled until one is chosen.
    _focus(page, "Nodule")
    form = f"#mrow-{nodule.pk} .pair-form"
    assert page.locator(f"{form} select").input_value() == ""
    assert page.locator(f"{form} button").is_disabled()
    page.select_option(f"{form} select", value=f"m{lll.pk}")
    assert page.locator(f"{form} button").is_enabled()
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_delete_shows_an_undo_toast_naming_the_pairs_and_undo_restores_them(workspace, page):
    assignment, nodule, rul, lll = workspace
    _pair(assignment, nodule, rul)
    _pair(assignment, nodule, lll)
    page.reload()
    before = set(Relation.objects.values_list("pk", "source_mention", "target_mention"))
    _focus(page, "Nodule")
    page.keyboard.press("Delete")
    page.wait_for_selector("#ws-toast:has-text('Deleted nodule “Nodule” and its 2 pairs.')")
    _rows(page, 2)
    page.screenshot(path=str(ARTIFACTS / "annotate-keyboard-2-delete-toast.png"))
    assert not Relation.objects.exists()

    page.click("#ws-toast button[data-history=undo]")
    page.wait_for_selector("#ws-toast:has-text('Undone: delete nodule')")
    _rows(page, 3)
    page.wait_for_selector("#pair-panel li.pair >> nth=1")
    assert Mention.objects.filter(pk=nodule.pk).exists()  # the same row, so older undos still apply
    assert set(Relation.objects.values_list("pk", "source_mention", "target_mention")) == before

    page.keyboard.press("Control+Shift+Z")  # redo: deleted again
    page.wait_for_selector("#ws-toast:has-text('Redone: delete nodule')")
    _rows(page, 2)
    assert not Relation.objects.exists()
    page.keyboard.press("Control+z")
    _rows(page, 3)
    assert set(Relation.objects.values_list("pk", "source_mention", "target_mention")) == before
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_ctrl_z_undoes_the_last_changes_of_the_report_in_order(workspace, page):
    assignment, nodule, *_ = workspace
    _focus(page, "Nodule")
    page.keyboard.press("n")  # 1. negated
    page.wait_for_selector("#report-text .seg.m.negated")
    page.keyboard.press("Shift+Digit1")  # 2. no selection: the focused mention gets key ⇧1
    page.wait_for_selector(f"#mrow-{nodule.pk} .mkey:text-is('right upper lobe')")
    page.keyboard.press("Control+z")
    page.wait_for_selector(f"#mrow-{nodule.pk} .mkey:text-is('nodule')")
    page.keyboard.press("Control+z")
    page.wait_for_selector("#report-text .seg.m.negated", state="detached")
    nodule.refresh_from_db()
    assert (nodule.key, nodule.negated) == (entity_key("nodule"), False)
    page.keyboard.press("Control+z")  # nothing left: says so, changes nothing
    page.wait_for_selector("#selection-hint:has-text('Nothing to undo')")
    assert Mention.objects.filter(assignment=assignment).count() == 3
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_a_suggestion_selects_the_word_and_accepts_nothing(workspace, page):
    assignment, *_ = workspace
    page.dblclick("#report-text .seg.sugg:text-is('RML')")
    page.wait_for_selector("#selection-hint:has-text('Selected “RML”')")
    page.wait_for_timeout(300)  # time for a wrongly sent accept to have landed
    assert Mention.objects.filter(assignment=assignment).count() == 3
    # Enter accepts the picked suggestion, explicitly.
    page.keyboard.press("Enter")
    _rows(page, 4)
    assert Mention.objects.filter(assignment=assignment, key=entity_key("right middle lobe")).exists()
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_a_korean_word_selects_it_without_its_particle(workspace, page):
    box = page.evaluate("""() => {
      const root = document.getElementById("report-text");
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const at = walker.currentNode.data.indexOf("우상엽");  // a suggestion: 의 is the next segment
        if (at >= 0) {
          const range = document.createRange();
          range.setStart(walker.currentNode, at + 1); range.setEnd(walker.currentNode, at + 2);
          const r = range.getBoundingClientRect();
          return {x: r.x + r.width / 2, y: r.y + r.height / 2};
        }
      }
    }""")
    page.mouse.dblclick(box["x"], box["y"])
    page.wait_for_selector("#selection-hint:has-text('Selected “우상엽”')")
    assert page.evaluate("() => window.getSelection().toString()") == "우상엽"
    page.keyboard.press("Shift+Digit1")
    _rows(page, 4)
    start, end = _at("우상엽")
    assert Mention.objects.filter(key=entity_key("right upper lobe"), start=start, end=end).exists()
    assert page.errors == []


@pytest.mark.django_db(transaction=True)
def test_mentions_and_pairs_are_visible_at_1440x900_and_the_bracket_keys_walk_the_queue(workspace, page):
    assignment, nodule, rul, lll = workspace
    # A busy report: 16 mentions, 9 pairs.
    findings, locations = [nodule], [rul, lll]
    for match in list(re.finditer(r"[^\s.]+", TEXT))[:16]:
        if (match.start(), match.end()) in {_at("Nodule"), _at("RUL"), _at("LLL")}:
            continue
        key = "mass" if len(findings) <= len(locations) else "right lung"
        row = MentionFactory(assignment=assignment, key=entity_key(key), start=match.start(), end=match.end())
        (findings if key == "mass" else locations).append(row)
    for finding, location in zip(findings, locations, strict=False):
        _pair(assignment, finding, location)
    _pair(assignment, nodule, lll)
    page.reload()
    page.wait_for_selector("#ws-progress:has-text('1 of 2')")
    page.screenshot(path=str(ARTIFACTS / "annotate-keyboard-3-layout.png"))
    assert page.locator("#pair-panel li.pair").count() == 9
    for panel in ("#key-panel", "#mention-panel", "#pair-panel li.pair >> nth=1", "#submit-button"):
        box = page.locator(panel).bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= 900, panel
    # Nothing sits on top of the last pair (the Submit panel used to).
    covered = page.evaluate("""() => {
      const pair = document.querySelectorAll("#pair-panel li.pair")[1];
      const r = pair.getBoundingClientRect();
      return !pair.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
    }""")
    assert covered is False
    shortcuts = page.locator("#key-list .key kbd").all_inner_texts()
    assert len(shortcuts) == page.locator("#key-list .key").count()  # every key has a hotkey
    page.keyboard.press("]")
    page.wait_for_selector("h1:has-text('keys-2')")
    page.wait_for_selector("#ws-progress:has-text('2 of 2')")
    page.keyboard.press("[")
    page.wait_for_selector("h1:has-text('keys-1')")
    assert page.errors == []

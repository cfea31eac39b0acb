"""Issue 18 in the workspace's server side: undo / redo through snapshots (a
deleted mention comes back with its id and its pairs), accept-all with the rules'
assertion, the queue position and previous / next, Korean particles sent with the
report, a shortcut for every key, and no preselected pair target."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Assignment, Mention, Relation
from annotations.workspace import key_shortcuts, workspace_build
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key
from tests.radreview.factories import UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
TEXT = "Nodule in the RUL and the LLL. No pleural effusion."


def url(name, *args):
    return reverse(f"annotations:{name}", args=args)


def _at(text, needle):
    start = text.index(needle)
    return start, start + len(needle)


@pytest.fixture
def mine(annotator):
    return AssignmentFactory(report=ReportFactory(text=TEXT), annotator=annotator)


@pytest.fixture
def paired(mine):
    """A nodule paired with two locations."""
    nodule = MentionFactory(assignment=mine, key=entity_key("nodule"), start=0, end=6)
    rul = MentionFactory(assignment=mine, key=entity_key("right upper lobe"), start=14, end=17)
    lll = MentionFactory(assignment=mine, key=entity_key("left lower lobe"), start=26, end=29)
    for target in (rul, lll):
        Relation.objects.create(
            report=mine.report,
            assignment=mine,
            source_key=nodule.key,
            target_key=target.key,
            source_mention=nodule,
            target_mention=target,
        )
    return nodule, rul, lll


def _token(response) -> str:
    """The undo token the re-rendered workspace carries."""
    found = re.search(r'data-undo-token="([^"]*)"', response.content.decode())
    assert found, "no workspace in the answer"
    return found.group(1)


def _state(assignment):
    mentions = set(Mention.objects.filter(assignment=assignment).values_list("pk", "key__name", "negated"))
    pairs = set(
        Relation.objects.filter(assignment=assignment).values_list("pk", "source_mention", "target_mention")
    )
    return mentions, pairs


def test_undo_of_a_delete_restores_the_mention_and_its_pairs_and_redo_deletes_them_again(
    client, annotator, mine, paired
):
    nodule, _, _ = paired
    client.force_login(annotator)
    before = _state(mine)
    response = client.post(url("mention_delete", mine.pk, nodule.pk), **HTMX)
    assert "Deleted nodule “Nodule” and its 2 pairs." in response.content.decode()  # no silent cascade
    assert Relation.objects.filter(assignment=mine).count() == 0

    undone = client.post(url("undo", mine.pk), {"token": _token(response), "kind": "undo"}, **HTMX)
    assert _state(mine) == before  # the same rows, under the same ids
    assert "Undone: delete nodule “Nodule” and its 2 pairs." in undone.content.decode()

    client.post(url("undo", mine.pk), {"token": _token(undone), "kind": "redo"}, **HTMX)
    assert not Mention.objects.filter(pk=nodule.pk).exists()
    assert Relation.objects.filter(assignment=mine).count() == 0


def test_undo_of_a_key_change_brings_back_the_old_key_and_the_pairs_it_removed(
    client, annotator, mine, paired
):
    nodule, _, _ = paired
    client.force_login(annotator)
    before = _state(mine)
    response = client.post(
        url("mention_update", mine.pk, nodule.pk), {"field": "key", "key": entity_key("mass").pk}, **HTMX
    )
    assert "its 2 pairs went with the old key" in response.content.decode()
    client.post(url("undo", mine.pk), {"token": _token(response)}, **HTMX)
    assert _state(mine) == before


def test_undo_of_an_add_deletes_the_mention_and_redo_brings_back_the_same_row(client, annotator, mine):
    client.force_login(annotator)
    start, end = _at(TEXT, "RUL")
    key = entity_key("right upper lobe").pk
    added = client.post(
        url("mention_create", mine.pk), {"key": key, "start": start, "end": end, "text": "RUL"}, **HTMX
    )
    pk = Mention.objects.get(assignment=mine).pk
    undone = client.post(url("undo", mine.pk), {"token": _token(added)}, **HTMX)
    assert not Mention.objects.filter(assignment=mine).exists()
    client.post(url("undo", mine.pk), {"token": _token(undone), "kind": "redo"}, **HTMX)
    assert list(Mention.objects.filter(assignment=mine).values_list("pk", "start", "end")) == [
        (pk, start, end)
    ]


def test_undo_of_a_pair_removes_only_that_pair(client, annotator, mine, paired):
    nodule, rul, _ = paired
    client.force_login(annotator)
    Relation.objects.filter(target_mention=rul).delete()
    kept = set(Relation.objects.values_list("pk", flat=True))
    response = client.post(
        url("relation_create", mine.pk), {"source": nodule.pk, "target": f"m{rul.pk}"}, **HTMX
    )
    assert Relation.objects.count() == 2
    client.post(url("undo", mine.pk), {"token": _token(response)}, **HTMX)
    assert set(Relation.objects.values_list("pk", flat=True)) == kept


def test_an_undo_token_works_once_only_in_its_own_report_and_session(client, annotator, mine, paired):
    nodule, _, _ = paired
    client.force_login(annotator)
    token = _token(client.post(url("mention_delete", mine.pk, nodule.pk), **HTMX))
    other = AssignmentFactory(report=ReportFactory(text=TEXT), annotator=annotator)
    wrong_report = client.post(url("undo", other.pk), {"token": token}, **HTMX).content.decode()
    assert "Nothing to undo here any more" in wrong_report
    someone = UserFactory(username="ann-someone")
    someone.groups.add(*annotator.groups.all())
    stranger = Client()
    stranger.force_login(someone)
    assert stranger.post(url("undo", mine.pk), {"token": token}, **HTMX).status_code == 403
    client.post(url("undo", mine.pk), {"token": token}, **HTMX)
    assert Mention.objects.filter(pk=nodule.pk).exists()
    again = client.post(url("undo", mine.pk), {"token": token}, **HTMX).content.decode()
    assert "Nothing to undo here any more" in again
    assert Mention.objects.filter(assignment=mine).count() == 3


def test_undo_needs_the_csrf_token(annotator, mine, paired):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(annotator)
    assert strict.post(url("undo", mine.pk), {"token": "x"}, **HTMX).status_code == 403


def test_undo_of_a_submitted_report_is_refused_and_changes_nothing(client, annotator, mine, paired):
    nodule, _, _ = paired
    client.force_login(annotator)
    token = _token(client.post(url("mention_delete", mine.pk, nodule.pk), **HTMX))
    Assignment.objects.filter(pk=mine.pk).update(status=Assignment.Status.SUBMITTED)
    page = client.post(url("undo", mine.pk), {"token": token}, **HTMX).content.decode()
    assert "Reopen it to change it" in page
    assert not Mention.objects.filter(pk=nodule.pk).exists()


def test_accept_all_marks_negated_what_the_rules_read_negated_and_says_so(client, annotator, mine):
    client.force_login(annotator)
    page = client.post(url("suggestions_accept", mine.pk), **HTMX).content.decode()
    got = {m.key.name: m.negated for m in Mention.objects.filter(assignment=mine)}
    assert got["pleural effusion"] is True and got["nodule"] is False
    assert "1 as negated as the rules read them (pleural effusion “pleural effusion”)" in page
    assert "reads as negated" not in page  # the submit check has nothing to say
    token = re.search(r'data-undo-token="([^"]+)"', page)
    assert token
    client.post(url("undo", mine.pk), {"token": token.group(1)}, **HTMX)
    assert not Mention.objects.filter(assignment=mine).exists()


def test_accepting_one_suggestion_takes_the_rules_assertion(client, annotator, mine):
    client.force_login(annotator)
    start, end = _at(TEXT, "pleural effusion")
    client.post(
        url("mention_create", mine.pk),
        {"key": entity_key("pleural effusion").pk, "start": start, "end": end, "suggestion": "1"},
        **HTMX,
    )
    assert Mention.objects.get(assignment=mine).negated is True


def test_position_and_previous_next_follow_the_queue_rank_whatever_the_status(client, annotator):
    rows = [
        AssignmentFactory(annotator=annotator, rank=rank, status=status)
        for rank, status in ((3.0, "todo"), (1.0, "submitted"), (2.0, "in_progress"))
    ]
    AssignmentFactory(rank=0.5)  # someone else's
    client.force_login(annotator)
    page = client.get(url("annotate", rows[2].pk)).content.decode()
    assert "<strong>2 of 3</strong>" in page and "1 submitted" in page
    assert f'data-url-previous="{url("annotate", rows[1].pk)}"' in page
    assert f'data-url-next="{url("annotate", rows[0].pk)}"' in page
    last = client.get(url("annotate", rows[0].pk)).content.decode()
    assert "<strong>3 of 3</strong>" in last and "data-url-next" not in last


def test_korean_particles_are_sent_with_the_report(annotator):
    pytest.importorskip("kiwipiepy")
    text = "우상엽의 결절. Nodule."
    assignment = AssignmentFactory(report=ReportFactory(text=text), annotator=annotator)
    data = workspace_build(assignment=assignment, user=annotator).client_data()
    assert data["particles"] == [[3, 4]]
    assert json.dumps(data["particles"])


def test_every_chest_ct_key_has_a_shortcut_locations_on_the_shifted_row(annotator, mine):
    ws = workspace_build(assignment=mine, user=annotator)
    shortcuts = {c.key.name: c.shortcut for c in ws.keys}
    assert all(shortcuts.values())
    assert shortcuts["pleura"].startswith("⇧") and shortcuts["mediastinum/hilum"].startswith("⇧")
    assert len(set(shortcuts.values())) == len(shortcuts)
    assert {c.code for c in ws.keys if c.shortcut == "-"} == {"Minus"}


def test_a_type_that_does_not_fit_the_row_starts_the_next_one():
    assert key_shortcuts([11, 11])[10:12] == ["-", "⇧1"]
    assert key_shortcuts([5, 4, 3])[-1] == "="
    assert key_shortcuts([30])[24:] == [""] * 6


def test_the_pair_menu_has_no_preselected_target(client, annotator, mine, paired):
    client.force_login(annotator)
    page = client.get(url("annotate", mine.pk)).content.decode()
    assert '<option value="" selected disabled>Pair with…</option>' in page
    assert re.search(r'<option value="[mk]\d+"[^>]* selected', page) is None

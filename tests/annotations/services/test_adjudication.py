"""Adjudication: pick one version or merge both into the gold version."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from annotations import selectors
from annotations.models import Assignment
from annotations.services.adjudication import adjudication_create, adjudication_pick
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key
from tests.radreview.factories import UserFactory

TEXT = "Nodule in RUL. Mass in LLL."


@pytest.fixture
def double(annotator):
    other = UserFactory(username="ann-b")
    other.groups.add(*annotator.groups.all())
    report = ReportFactory(text=TEXT)
    a = AssignmentFactory(report=report, annotator=annotator, status="submitted")
    b = AssignmentFactory(report=report, annotator=other, status="submitted")
    nodule_a = MentionFactory(assignment=a, key=entity_key("nodule"), start=0, end=6)
    rul_a = MentionFactory(assignment=a, key=entity_key("right upper lobe"), start=10, end=13)
    a.relations.create(
        report=report,
        source_key=nodule_a.key,
        target_key=rul_a.key,
        source_mention=nodule_a,
        target_mention=rul_a,
    )
    MentionFactory(assignment=b, key=entity_key("nodule"), start=0, end=6, uncertain=True)
    mass_b = MentionFactory(assignment=b, key=entity_key("mass"), start=15, end=19)
    lll_b = MentionFactory(assignment=b, key=entity_key("left lower lobe"), start=23, end=26)
    b.relations.create(
        report=report,
        source_key=mass_b.key,
        target_key=lll_b.key,
        source_mention=mass_b,
        target_mention=lll_b,
    )
    return report, a, b


def spans(assignment):
    return sorted(
        (m.key.name, m.start, m.end, m.uncertain) for m in assignment.mentions.select_related("key")
    )


def test_two_annotations_without_adjudication_are_not_gold(double):
    report, _, _ = double
    assert selectors.report_gold_assignment(report=report) is None


def test_picking_a_version_copies_it_into_the_gold_adjudication(double, admin_user):
    report, a, _ = double
    gold = adjudication_pick(report=report, user=admin_user, assignment=a)
    assert (gold.kind, gold.status, gold.annotator) == ("adjudication", "submitted", admin_user)
    assert spans(gold) == spans(a)
    relation = gold.relations.get()
    assert relation.source_mention.assignment == gold and relation.target_mention.assignment == gold
    assert selectors.report_gold_assignment(report=report) == gold


def test_merging_keeps_ticked_items_once_and_a_pair_brings_its_mentions(double, admin_user):
    report, a, b = double
    nodule_a = a.mentions.get(key__name="nodule")
    nodule_b = b.mentions.get(key__name="nodule")
    mass_pair = b.relations.get()
    gold = adjudication_create(
        report=report,
        user=admin_user,
        mention_ids=[nodule_a.pk, nodule_b.pk],
        relation_ids=[mass_pair.pk],
        no_findings=False,
    )
    assert spans(gold) == [
        ("left lower lobe", 23, 26, False),
        ("mass", 15, 19, False),
        ("nodule", 0, 6, False),
    ]
    assert [(r.source_key.name, r.target_key.name) for r in gold.relations.all()] == [
        ("mass", "left lower lobe")
    ]


def test_adjudicating_again_replaces_the_previous_gold(double, admin_user):
    report, a, b = double
    adjudication_pick(report=report, user=admin_user, assignment=a)
    adjudication_pick(report=report, user=admin_user, assignment=b)
    gold = Assignment.objects.get(report=report, kind="adjudication")
    assert spans(gold) == spans(b)


def test_annotators_cannot_adjudicate(double, annotator, client):
    report, a, _ = double
    with pytest.raises(PermissionDenied):
        adjudication_pick(report=report, user=annotator, assignment=a)
    client.force_login(annotator)
    assert client.get(reverse("annotations:adjudicate", args=[report.pk])).status_code == 403
    assert client.post("/api/adjudications/", {"report": report.pk, "pick": a.pk}).status_code == 403
    assert not Assignment.objects.filter(kind="adjudication").exists()


def test_adjudication_needs_two_submitted_versions(admin_user, annotator):
    report = ReportFactory(text=TEXT)
    single = AssignmentFactory(report=report, annotator=annotator, status="submitted")
    with pytest.raises(ValidationError, match="two submitted"):
        adjudication_pick(report=report, user=admin_user, assignment=single)


def test_adjudication_page_shows_both_versions_picks_and_merges(double, admin_user, client):
    report, a, b = double
    client.force_login(admin_user)
    page = client.get(reverse("annotations:adjudicate", args=[report.pk])).content.decode()
    assert page.count('class="card version"') == 2
    response = client.post(reverse("annotations:adjudicate", args=[report.pk]), {"action": f"pick-{b.pk}"})
    assert response.status_code == 302
    assert spans(selectors.report_gold_assignment(report=report)) == spans(b)
    merge = {
        "action": "merge",
        "mention": [m.pk for m in a.mentions.all()],
        "relation": [],
        "no_findings": "",
    }
    assert client.post(reverse("annotations:adjudicate", args=[report.pk]), merge).status_code == 302
    assert spans(selectors.report_gold_assignment(report=report)) == spans(a)

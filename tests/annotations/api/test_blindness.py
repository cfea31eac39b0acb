"""Blind double annotation (issue 17): while an annotator's assignment of a report is
open, nothing of another annotator's work on that report reaches them: not through
the report API's gold (the only submitted annotation is the other one's), not the
other's assignment, not agreement or adjudication, not suggestions learned from
the other's mentions, on no page. Adjudicators (admins) keep their access."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotations.models import Assignment
from annotations.services.values import entity_value_create
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key, span_of
from tests.radreview.factories import UserFactory

pytestmark = pytest.mark.django_db

TEXT = "Small blotch and a nodule in the RUL."


@pytest.fixture
def double():
    """One report, two annotators: `first` submitted (a mention of "blotch" as nodule,
    the value "blotch" learned from it), `second` still annotating."""
    report = ReportFactory(text=TEXT)
    first = AssignmentFactory(
        report=report, annotator=UserFactory(username="first", role="annotator"), status="submitted"
    )
    second = AssignmentFactory(report=report, annotator=UserFactory(username="second", role="annotator"))
    start, end = span_of(TEXT, "blotch")
    MentionFactory(assignment=first, key=entity_key("nodule"), start=start, end=end)
    entity_value_create(key=entity_key("nodule"), text="blotch", user=first.annotator, count=False)
    return report, first, second


def test_the_report_api_hides_gold_while_my_assignment_is_open(client, double):
    report, _first, second = double
    client.force_login(second.annotator)
    assert client.get(f"/api/reports/{report.pk}/").json()["gold_assignment"] is None
    for part in ("mentions", "pairs"):
        response = client.get(f"/api/reports/{report.pk}/{part}/")
        assert response.status_code == 403 and "blind" in response.json()["detail"]


def test_the_other_annotators_assignment_is_refused_in_the_api_and_the_page(client, double):
    _report, first, second = double
    client.force_login(second.annotator)
    assert client.get(f"/api/assignments/{first.pk}/").status_code == 403
    assert client.get(reverse("annotations:annotate", args=[first.pk])).status_code == 403


def test_my_workspace_shows_none_of_the_others_mentions_nor_values_learned_from_them(client, double):
    _report, _first, second = double
    client.force_login(second.annotator)
    body = client.get(f"/api/assignments/{second.pk}/").json()
    assert body["mentions"] == [] and body["relations"] == []
    assert {s["text"] for s in body["suggestions"]} == {"nodule", "RUL"}  # not "blotch"
    page = client.get(reverse("annotations:annotate", args=[second.pk]))
    assert {s.text for s in page.context["ws"].suggestions} == {"nodule", "RUL"}


def test_a_value_learned_before_the_double_annotation_is_still_suggested(client):
    report = ReportFactory(text=TEXT)
    first = UserFactory(username="first", role="annotator")
    entity_value_create(key=entity_key("nodule"), text="blotch", user=first, count=False)
    AssignmentFactory(report=report, annotator=first, status="submitted")
    second = AssignmentFactory(report=report, annotator=UserFactory(username="second", role="annotator"))
    client.force_login(second.annotator)
    body = client.get(f"/api/assignments/{second.pk}/").json()
    assert "blotch" in {s["text"] for s in body["suggestions"]}


@pytest.mark.parametrize(
    "url",
    [
        "/api/agreement/?modality=chest_ct",
        "/api/adjudications/?modality=chest_ct",
        "/api/adjudications/{report}/",
        "/annotations/agreement/",
        "/annotations/adjudicate/{report}/",
        "/annotations/reports/{report}/",
        "/analytics/longitudinal/",
    ],
)
def test_agreement_adjudication_and_report_pages_are_closed_to_the_annotator(client, double, url):
    report, _first, second = double
    client.force_login(second.annotator)
    assert client.get(url.format(report=report.pk)).status_code == 403


def test_blindness_ends_with_my_submission(client, double):
    report, first, second = double
    Assignment.objects.filter(pk=second.pk).update(status=Assignment.Status.SUBMITTED)
    client.force_login(first.annotator)  # submitted: not blind, and reads its own gold
    assert client.get(f"/api/reports/{report.pk}/mentions/").status_code == 200


def test_an_adjudicator_keeps_every_version(client, admin_user, double):
    report, first, _second = double
    client.force_login(admin_user)
    mentions = client.get(f"/api/reports/{report.pk}/mentions/").json()
    assert [m["text"] for m in mentions] == ["blotch"]  # the only submitted version is gold
    assert client.get(f"/api/assignments/{first.pk}/").status_code == 200
    assert client.get(f"/api/adjudications/{report.pk}/").status_code == 200

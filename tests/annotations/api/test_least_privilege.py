"""Least privilege (issue 17): the report API gives text and patient ids only of the
reports a user has work on: an assignment (annotators), a review item (clinicians);
admins read all. Another report is absent from the list and a 404 in detail."""

from __future__ import annotations

import pytest

from review.models import ReviewReport
from tests.annotations.factories import AssignmentFactory, ReportFactory, imported_gold

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_reports():
    mine, other = ReportFactory(external_id="mine"), ReportFactory(external_id="other")
    imported_gold(other)
    return mine, other


def _listed(client) -> list[str]:
    response = client.get("/api/reports/")
    assert response.status_code == 200
    return [r["external_id"] for r in response.json()["results"]]


def _assert_only_mine(client, mine, other) -> None:
    assert _listed(client) == ["mine"]
    assert client.get(f"/api/reports/{mine.pk}/").json()["text"] == mine.text
    for url in (
        f"/api/reports/{other.pk}/",
        f"/api/reports/{other.pk}/mentions/",
        f"/api/reports/{other.pk}/pairs/",
    ):
        assert client.get(url).status_code == 404


def test_an_annotator_reads_only_reports_assigned_to_them(client, annotator, two_reports):
    mine, other = two_reports
    AssignmentFactory(report=mine, annotator=annotator)
    client.force_login(annotator)
    _assert_only_mine(client, mine, other)


def test_a_clinician_reads_only_reports_with_a_review_item(client, clinician, two_reports):
    mine, other = two_reports
    ReviewReport.objects.create(report=mine, modality=mine.modality, patient_id=mine.patient_id)
    client.force_login(clinician)
    _assert_only_mine(client, mine, other)


def test_a_role_without_work_reads_no_report(client, annotator, clinician, two_reports):
    _mine, other = two_reports
    for user in (annotator, clinician):
        client.force_login(user)
        assert _listed(client) == []
        assert client.get(f"/api/reports/{other.pk}/").status_code == 404


def test_an_admin_reads_every_report(client, admin_user, two_reports):
    _mine, other = two_reports
    client.force_login(admin_user)
    assert sorted(_listed(client)) == ["mine", "other"]
    assert client.get(f"/api/reports/{other.pk}/").json()["patient_id"] == other.patient_id
    assert len(client.get(f"/api/reports/{other.pk}/mentions/").json()) == 3

"""Read-only API over reports, their gold mentions and pairs, and the schema."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group

from annotations.models import Assignment
from review.models import ReviewReport
from tests.annotations.factories import CHEST_TEXT, AssignmentFactory, ReportFactory, imported_gold, modality
from tests.radreview.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reports():
    r1 = ReportFactory(extract=True, external_id="r1", study_datetime=datetime(2021, 1, 5, tzinfo=UTC))
    r2 = ReportFactory(
        extract=True,
        external_id="r2",
        patient_id="p2",
        study_datetime=datetime(2021, 6, 5, tzinfo=UTC),
        source="other",
    )
    r3 = ReportFactory(
        extract=True,
        external_id="b1",
        modality=modality("brain_mri"),
        text="Glioma, progression.",
        study_datetime=datetime(2022, 2, 2, tzinfo=UTC),
    )
    imported_gold(r1)
    return r1, r2, r3


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["external_id"] for r in response.json()["results"]]


def test_an_admin_reads_every_report(client, admin_user, reports):
    client.force_login(admin_user)
    assert ids(client.get("/api/reports/")) == ["b1", "r2", "r1"]  # newest study first


def test_a_user_without_a_role_is_refused(client, reports):
    client.force_login(UserFactory(username="nobody"))
    assert client.get("/api/reports/").status_code == 403
    assert client.get(f"/api/reports/{reports[0].pk}/").status_code == 403
    assert client.get("/api/modalities/").status_code == 403


def test_anonymous_is_refused(client, reports):
    assert client.get("/api/reports/").status_code in (401, 403)


def test_filters(client, admin_user, reports):
    client.force_login(admin_user)
    assert ids(client.get("/api/reports/?modality=chest_ct")) == ["r2", "r1"]
    assert ids(client.post("/api/reports/", {"patient_id": "p1"}, content_type="application/json")) == [
        "b1",
        "r1",
    ]
    assert ids(client.get("/api/reports/?source=other")) == ["r2"]
    assert ids(client.get("/api/reports/?date_from=2021-06-05&date_to=2021-12-31")) == ["r2"]
    assert ids(client.get("/api/reports/?date_to=2021-01-05")) == ["r1"]


def test_bad_filters_are_a_400(client, clinician, reports):
    client.force_login(clinician)
    response = client.get("/api/reports/?date_from=2021-13-01")
    assert response.status_code == 400 and "date_from" in response.json()
    response = client.get("/api/reports/?date_from=2022-01-01&date_to=2021-01-01")
    assert response.status_code == 400 and "date_to" in response.json()


def test_a_patient_filter_in_the_query_string_is_refused(client, admin_user, reports):
    client.force_login(admin_user)
    response = client.get("/api/reports/?patient_id=p1")
    assert response.status_code == 400 and "POST body" in response.json()["patient_id"][0]


def test_pagination(client, admin_user, reports):
    client.force_login(admin_user)
    first = client.get("/api/reports/?page_size=2").json()
    assert first["count"] == 3 and len(first["results"]) == 2 and "page=2" in first["next"]
    assert ids(client.get("/api/reports/?page_size=2&page=2")) == ["r1"]
    assert client.get("/api/reports/?page_size=2&page=9").status_code == 404


def test_list_has_no_text_detail_has_it(client, annotator, reports):
    r1 = reports[0]
    AssignmentFactory(report=r1, annotator=annotator, status=Assignment.Status.SUBMITTED)
    client.force_login(annotator)
    assert "text" not in client.get("/api/reports/").json()["results"][0]
    detail = client.get(f"/api/reports/{r1.pk}/").json()
    assert detail["text"] == CHEST_TEXT and detail["modality"] == "chest_ct"
    assert detail["gold_assignment"] is not None
    assert client.get("/api/reports/999999/").status_code == 404


def test_gold_mentions_and_pairs(client, clinician, reports):
    r1, r2, _ = reports
    for report in (r1, r2):
        ReviewReport.objects.create(report=report, modality=report.modality, patient_id=report.patient_id)
    client.force_login(clinician)
    mentions = client.get(f"/api/reports/{r1.pk}/mentions/").json()
    assert [(m["key"], m["entity_type"], m["text"], m["negated"]) for m in mentions] == [
        ("nodule", "Lesion", "nodule", False),
        ("right upper lobe", "Location", "RUL", False),
        ("pleural effusion", "Lesion", "pleural effusion", True),
    ]
    assert all(CHEST_TEXT[m["start"] : m["end"]] == m["text"] for m in mentions)
    pairs = client.get(f"/api/reports/{r1.pk}/pairs/").json()
    assert [(p["source_key"], p["target_key"]) for p in pairs] == [("nodule", "right upper lobe")]
    assert pairs[0]["source_mention"] == mentions[0]["id"]
    assert client.get(f"/api/reports/{r2.pk}/mentions/").json() == []


def test_schema_endpoints(client, annotator):
    client.force_login(annotator)
    modalities = client.get("/api/modalities/").json()
    assert {m["code"] for m in modalities} >= {"chest_ct", "brain_mri"}
    chest = client.get("/api/modalities/chest_ct/").json()
    types = {t["name"]: t for t in chest["entity_types"]}
    assert len(types["Lesion"]["keys"]) == 11 and len(types["Location"]["keys"]) == 11
    effusion = next(k for k in types["Lesion"]["keys"] if k["name"] == "pleural effusion")
    assert effusion["implicit_location"] == "pleura"
    nodule = next(k for k in types["Lesion"]["keys"] if k["name"] == "nodule")
    assert nodule["pairs_with"] == "Location" and nodule["values"]
    keys = client.get("/api/entity-keys/?modality=brain_mri&entity_type=Episode").json()["results"]
    assert sorted(k["name"] for k in keys) == ["improvement", "progression", "stable"]
    assert client.get("/api/modalities/nope/").status_code == 404


def test_role_group_membership_decides(client, reports):
    user = UserFactory(username="later-clinician")
    client.force_login(user)
    assert client.get("/api/reports/").status_code == 403
    user.groups.add(Group.objects.get(name="clinician"))
    assert client.get("/api/reports/").status_code == 200

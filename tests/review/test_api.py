import pytest
from rest_framework.test import APIClient

from review.models import ReviewDecision
from review.services import lease_acquire, sync_report_findings
from tests.radreview.factories import UserFactory
from tests.review.factories import chest_report_with_predictions

pytestmark = pytest.mark.django_db


@pytest.fixture
def review():
    return sync_report_findings(chest_report_with_predictions(external_id="api-1"))


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_queue_api_for_clinicians_only(review, clinician, annotator, admin_user):
    assert _api(annotator).get("/api/review/queue/").status_code == 403
    assert _api(admin_user).get("/api/review/queue/").status_code == 403
    assert APIClient().get("/api/review/queue/").status_code in (401, 403)
    data = _api(clinician).get("/api/review/queue/").json()
    assert data["counts"]["pending"] == 1
    assert data["results"][0]["report"]["external_id"] == "api-1"
    assert _api(clinician).get("/api/review/queue/?date_to=x").status_code == 400


def test_decision_api_approve_conflict_and_bad_input(review, clinician, admin_user):
    nodule = review.findings.get(key="nodule")
    url = f"/api/review/findings/{nodule.pk}/decision/"
    assert _api(admin_user).post(url, {"action": "approve", "version": 1}, format="json").status_code == 403
    response = _api(clinician).post(url, {"action": "approve", "version": 1}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    stale = _api(clinician).post(
        url, {"action": "reject", "version": 1, "reason_code": "other"}, format="json"
    )
    assert stale.status_code == 409 and "changed" in stale.json()["detail"]
    bad = _api(clinician).post(url, {"action": "reject", "version": 2}, format="json")
    assert bad.status_code == 400
    assert _api(clinician).post(url, {"action": "explode", "version": 2}, format="json").status_code == 400
    assert ReviewDecision.objects.count() == 1


def test_decision_api_refuses_while_another_clinician_holds_the_lease(review, clinician):
    lease_acquire(review=review, user=clinician)
    other = UserFactory(username="clin2", role="clinician")
    nodule = review.findings.get(key="nodule")
    response = _api(other).post(
        f"/api/review/findings/{nodule.pk}/decision/", {"action": "approve", "version": 1}, format="json"
    )
    assert response.status_code == 409 and "clin is reviewing" in response.json()["detail"]


def test_add_and_history_api(review, clinician, admin_user, annotator):
    response = _api(clinician).post(
        f"/api/review/reports/{review.report_id}/findings/",
        {"key": "mass", "locations": ["left upper lobe"], "start": 0, "end": 5},
        format="json",
    )
    assert response.status_code == 201 and response.json()["status"] == "added"
    history = _api(admin_user).get(f"/api/review/reports/{review.report_id}/history/")
    assert history.status_code == 200 and [d["action"] for d in history.json()] == ["add"]
    assert _api(annotator).get(f"/api/review/reports/{review.report_id}/history/").status_code == 403
    detail = _api(clinician).get(f"/api/review/reports/{review.report_id}/").json()
    assert {f["key"] for f in detail["findings"]} >= {"nodule", "mass"}

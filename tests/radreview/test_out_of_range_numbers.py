"""An id or offset past what the database can hold (2**63 and more) is a 404 in a
path and a 400 in a query or body, never a 500 (radreview.bounds)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLResolver, get_resolver, reverse

from radreview.bounds import ID_MAX, INT_MAX, bounded_int
from review.services import sync_report_findings
from tests.annotations.factories import AssignmentFactory, ReportFactory
from tests.review.factories import chest_report_with_predictions

pytestmark = pytest.mark.django_db

BIG = "99999999999999999999"  # > 2**64


def _routes(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def _id_routes() -> list[str]:
    return [r for r in _routes(get_resolver()) if "<id:" in r]


def test_no_path_names_an_id_with_the_unbounded_int_converter():
    assert not [r for r in _routes(get_resolver()) if "<int:" in r and not r.startswith("admin/")]
    assert len(_id_routes()) > 40


@pytest.mark.parametrize("role", ["admin_user", "clinician", "annotator"])
def test_every_path_with_an_id_past_the_range_is_a_404(client, request, role):
    client.force_login(request.getfixturevalue(role))
    client.raise_request_exception = False
    answers = set()
    for route in _id_routes():
        url = "/" + re.sub(r"<slug:\w+>", "chest_ct", re.sub(r"<id:\w+>", BIG, route))
        answers |= {(client.get(url).status_code, url), (client.post(url).status_code, url)}
    assert {status for status, _ in answers} == {404}


def test_the_largest_id_still_reaches_the_view(client, clinician):
    client.force_login(clinician)
    url = reverse("review:review", args=[ID_MAX])
    assert url == f"/review/{ID_MAX}/"
    assert client.get(url).status_code == 404  # the view's own 404: no such report


def test_review_history_api_with_a_huge_report_id_is_a_404(client, admin_user):
    client.force_login(admin_user)
    assert client.get(f"/api/review/reports/{BIG}/history/").status_code == 404


def test_review_queue_page_offset_past_the_range_is_a_400(client, clinician):
    sync_report_findings(chest_report_with_predictions())
    client.force_login(clinician)
    response = client.get("/review/", {"offset": BIG})
    assert response.status_code == 400 and b"offset must be a whole number from 0" in response.content
    assert client.get("/review/", {"offset": "junk"}).status_code == 200  # as before: the first page


def test_review_queue_api_offset_past_the_range_is_a_400(client, clinician):
    client.force_login(clinician)
    response = client.get("/api/review/queue/", {"offset": BIG})
    assert response.status_code == 400
    assert response.json()["detail"] == [f"offset must be a whole number from 0 to {ID_MAX}."]
    assert client.get("/api/review/queue/", {"offset": str(ID_MAX)}).json()["results"] == []


def test_review_queue_model_version_past_the_range_is_a_message(client, clinician):
    client.force_login(clinician)
    response = client.get("/api/review/queue/", {"model_version": BIG})
    assert (
        response.status_code == 400 and "Model version must be a whole number" in response.json()["detail"][0]
    )
    assert client.get("/review/", {"model_version": BIG}).status_code == 200  # the page shows the message


def test_entity_values_api_key_past_the_range_is_a_400(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/entity-values/", {"key": BIG})
    assert response.status_code == 400 and "key" in response.json()


def test_agreement_page_takes_an_annotator_id_past_the_range_for_no_annotator(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/annotations/agreement/", {"a": BIG, "b": BIG}).status_code == 200


def test_adjudication_api_mention_ids_past_the_range_are_a_400(client, admin_user):
    report = ReportFactory()
    client.force_login(admin_user)
    response = client.post(
        "/api/adjudications/", {"report": report.pk, "mentions": [int(BIG)]}, content_type="application/json"
    )
    assert response.status_code == 400 and "mentions" in response.json()


def test_mention_api_offsets_past_the_range_are_a_400(client, annotator):
    mine = AssignmentFactory(annotator=annotator)
    client.force_login(annotator)
    response = client.post(
        f"/api/assignments/{mine.pk}/mentions/",
        {"key": int(BIG), "start": int(BIG), "end": int(BIG) + 1},
        content_type="application/json",
    )
    assert response.status_code == 400 and set(response.json()) == {"key", "start", "end"}


def test_stage2_run_api_report_ids_past_the_range_are_a_400(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/api/stage2/runs/",
        {"modality": "chest_ct", "mode": "rules", "report_ids": [int(BIG)]},
        content_type="application/json",
    )
    assert response.status_code == 400 and "report_ids" in response.json()


def test_bounded_int_names_the_parameter_and_the_range():
    assert bounded_int("42", name="offset") == 42
    with pytest.raises(ValueError, match=r"^offset must be a whole number from 0 to 2147483647\.$"):
        bounded_int(BIG, name="offset", maximum=INT_MAX)
    with pytest.raises(ValueError, match=r"^offset must be a whole number\.$"):
        bounded_int("4.5", name="offset")

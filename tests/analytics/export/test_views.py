"""Who may export, and how: the page, the streamed download, the API (token or
session) and `manage.py export`."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from rest_framework.authtoken.models import Token

from tests.annotations.factories import ReportFactory
from tests.inference.factories import Stage2PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def predicted():
    rep = ReportFactory(extract=True, external_id="r1")
    Stage2PredictionFactory(
        report=rep,
        findings=[
            {"key": "nodule", "status": "present", "kind": "lesion", "locations": ["right upper lobe"]}
        ],
    )
    return rep


def body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode("utf-8")  # type: ignore[arg-type]  # sync views stream an Iterator


@pytest.mark.parametrize("role", ["annotator", "clinician"])
def test_only_admins_export(client, request, role, predicted):
    client.force_login(request.getfixturevalue(role))
    assert client.get("/analytics/export/").status_code == 403
    assert client.get("/analytics/export/download/?format=csv").status_code == 403
    assert client.get("/api/export/?format=csv").status_code == 403


def test_anonymous_api_export_is_refused_without_a_redirect(client, predicted):
    assert client.get("/api/export/").status_code in (401, 403)


def test_admin_page_and_streamed_download(client, admin_user, predicted):
    client.force_login(admin_user)
    page = client.get("/analytics/export/")
    assert page.status_code == 200 and b"NOTE_NLP" in page.content
    response = client.get("/analytics/export/download/?format=jsonl&labels=unverified&modality=chest_ct")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"].startswith('attachment; filename="radreview-unverified-chest_ct-')
    rows = [json.loads(line) for line in body(response).splitlines()]
    assert [(r["label"], r["key"], r["paired"]) for r in rows] == [
        ("unverified", "nodule", ["right upper lobe"])
    ]


def test_bad_parameters_are_a_400_with_the_reason(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/analytics/export/download/?format=xml&date_from=2021-02-30")
    assert page.status_code == 400 and b"format" in page.content and b"date_from" in page.content
    api = client.get("/api/export/?labels=verified,approved")
    assert api.status_code == 400 and set(api.json()) == {"labels"}
    api = client.get("/api/export/?date_from=2022-01-02&date_to=2022-01-01")
    assert api.status_code == 400 and set(api.json()) == {"date_to"}


def test_labels_that_are_not_a_list_in_a_json_body_are_a_400(client, admin_user):
    client.force_login(admin_user)
    api = client.post("/api/export/", {"labels": -226}, content_type="application/json")
    assert api.status_code == 400 and set(api.json()) == {"labels"}


def test_api_export_with_a_token(client, admin_user, predicted):
    token = Token.objects.create(user=admin_user)
    response = client.get(
        "/api/export/?format=note_nlp&labels=unverified", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = body(response).splitlines()
    assert lines[0].startswith("note_nlp_id,note_id,section_concept_id,snippet,offset,lexical_variant")
    assert len(lines) == 2


def test_export_command_writes_a_file(tmp_path, predicted):
    out = tmp_path / "out.csv"
    call_command("export", "--format", "csv", "--labels", "unverified,gold", "-o", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("label,report_id,") and len(lines) == 2
    with pytest.raises(CommandError, match="labels must be"):
        call_command("export", "--labels", "approved", "-o", str(out))

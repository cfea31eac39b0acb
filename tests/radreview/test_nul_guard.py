"""A NUL character in any input is a 400 with a clear message, never a database
error (PostgreSQL cannot store or even compare it)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.django_db


def test_nul_in_a_query_parameter(client, clinician):
    client.force_login(clinician)
    response = client.get("/api/reports/", {"source": "a\x00b"})
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


@pytest.mark.parametrize("encoded", [True, False])
def test_nul_in_a_form_body(client, admin_user, encoded):
    client.force_login(admin_user)
    if encoded:
        body = urlencode({"modalities": ["\x00chest"]}, doseq=True)
        response = client.post(
            "/api/weak-labels/runs/", body, content_type="application/x-www-form-urlencoded"
        )
    else:  # multipart
        response = client.post("/api/weak-labels/runs/", {"modalities": ["\x00chest"]})
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_nul_in_a_json_body(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/api/auth/tokens/", '{"username": "x\\u0000"}', content_type="application/json")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_nul_in_a_form_encoded_patch(client, admin_user):
    client.force_login(admin_user)
    body = urlencode({"text": "a\x00"})
    response = client.patch("/api/entity-values/1/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_pages_get_a_plain_400(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/annotations/reports/", {"source": "\x00"})
    assert response.status_code == 400 and b"NUL" in response.content


def test_ordinary_requests_pass(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/api/reports/", {"source": "a\\u0000 is just text"}).status_code == 200
    response = client.post("/api/auth/tokens/", {"username": "nobody"}, content_type="application/json")
    assert response.status_code == 400 and "username" in response.json()

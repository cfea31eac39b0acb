"""API tokens, the OpenAPI schema and the docs page."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from tests.radreview.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_obtains_a_token_and_uses_it(client, clinician):
    response = client.post("/api/auth/token/", {"username": "clin", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["username"] == "clin"
    assert client.get("/api/reports/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    assert client.get("/api/reports/", HTTP_AUTHORIZATION="Token not-a-token").status_code in (401, 403)
    # The same token again, not a new one per call.
    again = client.post(
        "/api/auth/token/", {"username": "clin", "password": PASSWORD}, content_type="application/json"
    )
    assert again.json()["token"] == token


def test_wrong_password_gets_no_token(client, clinician):
    response = client.post("/api/auth/token/", {"username": "clin", "password": "wrong"})
    assert response.status_code == 400 and not Token.objects.exists()


def test_admin_issues_and_replaces_a_token(client, admin_user, annotator):
    client.force_login(admin_user)
    first = client.post("/api/auth/tokens/", {"username": "ann"})
    assert first.status_code == 201
    second = client.post("/api/auth/tokens/", {"username": "ann"})
    assert second.json()["token"] != first.json()["token"]
    assert list(Token.objects.filter(user=annotator).values_list("key", flat=True)) == [
        second.json()["token"]
    ]
    missing = client.post("/api/auth/tokens/", {"username": "ghost"})
    assert missing.status_code == 400 and "username" in missing.json()


@pytest.mark.parametrize("role", ["annotator", "clinician"])
def test_only_admins_issue_tokens(client, request, role):
    client.force_login(request.getfixturevalue(role))
    UserFactory(username="victim")
    assert client.post("/api/auth/tokens/", {"username": "victim"}).status_code == 403
    assert not Token.objects.exists()


def test_schema_is_served_to_signed_in_users(client, annotator):
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(annotator)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "RadReview API"
    assert {"/api/reports/", "/api/export/", "/api/auth/token/", "/api/modalities/{code}/"} <= set(
        schema["paths"]
    )
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_docs_page(client, annotator):
    assert client.get("/api/docs/").status_code == 302  # to the login page
    client.force_login(annotator)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"/api/schema/" in page.content or b"swagger" in page.content.lower()

"""Content-Security-Policy on every page, and report text never left in a cache
(issue 17; radreview/settings/base.py, radreview/middleware.py, docs/security.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.annotations.factories import ReportFactory

pytestmark = pytest.mark.django_db

TEXT = "Small nodule in the RUL. No pleural effusion."


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def test_every_page_has_a_policy_that_runs_only_this_servers_script_files(client, annotator):
    client.force_login(annotator)
    policy = directives(client.get(reverse("home")))
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]


def test_the_login_page_has_the_policy_too(client):
    assert "'unsafe-inline'" not in directives(client.get(reverse("login")))["script-src"]


def test_a_page_with_report_text_is_not_stored(client, admin_user):
    report = ReportFactory(text=TEXT)
    client.force_login(admin_user)
    response = client.get(reverse("annotations:report_detail", args=[report.pk]))
    assert TEXT in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def test_an_api_answer_with_report_text_is_not_stored(client, admin_user):
    report = ReportFactory(text=TEXT)
    client.force_login(admin_user)
    response = client.get(reverse("api_report", args=[report.pk]))
    assert response.json()["text"] == TEXT
    assert response["Cache-Control"] == "no-store"


def test_a_token_authenticated_api_answer_is_not_stored(client, admin_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=admin_user)
    report = ReportFactory(text=TEXT)
    response = client.get(reverse("api_report", args=[report.pk]), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"


def test_a_script_a_view_serves_keeps_its_own_cache_lifetime(rf):
    from django.http import HttpResponse

    from radreview.middleware import NoStoreMiddleware

    def view(request):
        response = HttpResponse("x", content_type="text/javascript")
        response["Cache-Control"] = "public, max-age=60"
        return response

    assert NoStoreMiddleware(view)(rf.get("/x.js"))["Cache-Control"] == "public, max-age=60"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(src=|type=\"application/json\"))[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if INLINE_SCRIPT.search(text) or HANDLER.search(text):
            offenders.append(str(path.relative_to(settings.BASE_DIR)))
    assert offenders == []

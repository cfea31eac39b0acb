"""403, 404 and 500 are the app's own pages, with its layout and a way back, and
never Django's technical pages (issue 17; templates/_error.html, 500.html)."""

from __future__ import annotations

import pytest
from django.template import loader
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from tests.annotations.factories import ReportFactory

pytestmark = pytest.mark.django_db


def test_a_missing_record_is_the_apps_404_page(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("annotations:report_detail", args=[987654]))
    page = response.content.decode()
    assert response.status_code == 404 and "This page does not exist" in page
    assert 'class="topbar"' in page and f'href="{reverse("home")}">Back to the home page' in page
    assert "URLconf" not in page and "987654" not in page


def test_an_unknown_address_is_the_apps_404_page(client, annotator):
    client.force_login(annotator)
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "Back to the home page" in response.content.decode()


def test_a_refused_page_is_the_apps_403_page_with_the_reason(client, annotator, admin_user):
    report = ReportFactory()
    client.force_login(annotator)
    response = client.get(reverse("annotations:report_detail", args=[report.pk]))
    page = response.content.decode()
    assert response.status_code == 403 and "You do not have access to this page" in page
    assert 'class="topbar"' in page and "Back to the home page" in page and annotator.username in page


def test_an_expired_form_is_a_403_that_says_so(db):
    response = Client(enforce_csrf_checks=True).post(reverse("login"), {"username": "x", "password": "y"})
    page = response.content.decode()
    assert response.status_code == 403 and "This form has expired" in page and "Log in" in page


def test_the_500_page_renders_without_a_request_or_the_database():
    page = loader.get_template("500.html").render()
    assert "Something went wrong on our side" in page and 'href="/"' in page


def test_the_500_handler_uses_it():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "Back to the home page" in response.content.decode()

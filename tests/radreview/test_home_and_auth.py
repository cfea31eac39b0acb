"""Home, login and logout, the health check, and the admin site: who gets in where."""

from django.test import Client
from django.urls import reverse

from annotations.models import EntityKey, Modality


def test_anonymous_user_is_redirected_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_healthz_is_public_and_checks_the_database(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_login_with_password_then_home(client, annotator):
    response = client.post(reverse("login"), {"username": "ann", "password": "pw-for-tests-1"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_logout_requires_post(client, annotator):
    client.force_login(annotator)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_login_page_has_csrf_protection(db):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403


def test_home_shows_only_the_sections_of_the_users_role(client, annotator, clinician, admin_user):
    client.force_login(annotator)
    page = client.get(reverse("home")).content.decode()
    assert "Site administration" not in page

    client.force_login(admin_user)
    page = client.get(reverse("home")).content.decode()
    assert "Site administration" in page


def test_admin_site_is_closed_to_annotators_and_clinicians(client, annotator, clinician, admin_user):
    for user in (annotator, clinician):
        client.force_login(user)
        assert client.get("/admin/").status_code == 302  # not staff: sent to the admin login
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/annotations/report/").status_code == 200


def test_user_without_role_sees_explanation(client, django_user_model):
    user = django_user_model.objects.create_user("norole", password="pw-for-tests-1")
    client.force_login(user)
    assert "has no role yet" in client.get(reverse("home")).content.decode()


def test_admin_site_rejects_an_invalid_regex_value_and_bumps_the_schema_on_save(client, admin_user):
    key = EntityKey.objects.get(name="nodule")
    before = Modality.objects.get(code="chest_ct").schema_version
    client.force_login(admin_user)
    url = "/admin/annotations/entityvalue/add/"
    bad = client.post(url, {"key": key.pk, "text": "nodul(e", "kind": "regex"})
    assert bad.status_code == 200
    assert "Invalid regular expression" in bad.content.decode()
    good = client.post(url, {"key": key.pk, "text": "nodulus", "kind": "keyword"})
    assert good.status_code == 302
    assert Modality.objects.get(code="chest_ct").schema_version == before + 1

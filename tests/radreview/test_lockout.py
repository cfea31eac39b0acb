"""Login lockout (django-axes) on the login page and the token API, per account and
per address; the admin's unlock; the audit rows; API throttling (issue 17)."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from radreview.models import SecurityEvent
from tests.radreview.factories import PASSWORD

pytestmark = pytest.mark.django_db

LIMIT = 5  # AXES_FAILURE_LIMIT's default
TOKEN_URL = "/api/auth/token/"


def _login(client, username, password, addr="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=addr)


def _token(username, password, addr="10.0.0.1"):
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, REMOTE_ADDR=addr)


def test_login_form_locks_the_account_and_refuses_the_right_password(client, clinician):
    codes = [_login(client, "clin", "wrong").status_code for _ in range(LIMIT)]
    assert codes == [200] * (LIMIT - 1) + [429]
    locked = _login(client, "clin", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert client.get(reverse("home")).status_code == 302  # not signed in


def test_token_api_locks_the_account_and_refuses_the_right_password(clinician):
    codes = [_token("clin", "wrong").status_code for _ in range(LIMIT)]
    assert codes == [400] * (LIMIT - 1) + [429]
    locked = _token("clin", PASSWORD)
    assert locked.status_code == 429
    assert "token" not in locked.json()


def test_the_login_page_and_the_token_api_count_together(client, clinician):
    for _ in range(LIMIT - 1):
        _login(client, "clin", "wrong")
    assert _token("clin", "wrong").status_code == 429
    assert _login(client, "clin", PASSWORD).status_code == 429


def test_the_account_is_locked_from_every_address(client, clinician):
    for i in range(LIMIT):
        _login(client, "clin", "wrong", addr=f"10.0.1.{i}")
    assert _login(client, "clin", PASSWORD, addr="10.0.2.1").status_code == 429


def test_an_address_is_locked_whatever_username_it_tries(client, clinician):
    for i in range(LIMIT):
        _login(client, f"guess{i}", "wrong", addr="10.0.3.1")
    assert _login(client, "clin", PASSWORD, addr="10.0.3.1").status_code == 429
    assert _login(client, "clin", PASSWORD, addr="10.0.3.2").status_code == 302


def test_fewer_failures_than_the_limit_do_not_lock(client, clinician):
    for _ in range(LIMIT - 1):
        _login(client, "clin", "wrong")
    assert _login(client, "clin", PASSWORD).status_code == 302


def test_a_lockout_is_one_audit_row_and_every_failure_is_logged(client, clinician):
    for _ in range(LIMIT + 2):
        _login(client, "clin", "wrong")
    rows = list(SecurityEvent.objects.values_list("kind", "username", "ip_address"))
    assert rows == [("lockout", "clin", "10.0.0.1")]
    assert AccessFailureLog.objects.filter(username="clin").count() == LIMIT + 2
    assert "wrong" not in AccessAttempt.objects.get(username="clin").post_data  # passwords are masked


def test_an_admin_unlocks_in_django_admin_and_the_unlock_is_audited(client, clinician, admin_user):
    for _ in range(LIMIT):
        _login(client, "clin", "wrong")
    admin = APIClient()  # a second browser: the admin's
    admin.force_login(admin_user)
    assert admin.get("/admin/axes/accessattempt/").status_code == 200
    ids = list(AccessAttempt.objects.values_list("pk", flat=True))
    response = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    unlock = SecurityEvent.objects.get(kind="unlock")
    assert (unlock.actor, unlock.username, unlock.before) == (admin_user, "clin", {"failures": LIMIT})
    assert _login(client, "clin", PASSWORD).status_code == 302


def test_the_lockout_pages_are_for_admins_only(client, clinician, annotator):
    for user in (clinician, annotator):
        client.force_login(user)
        assert client.get("/admin/axes/accessattempt/").status_code == 302  # not staff


def test_the_management_command_unlocks_a_username(client, clinician):
    for _ in range(LIMIT):
        _login(client, "clin", "wrong")
    call_command("axes_reset_username", "clin")
    assert _login(client, "clin", PASSWORD).status_code == 302


def test_the_token_endpoint_is_throttled_per_address(clinician):
    codes = [_token("clin", PASSWORD).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]  # "auth_token": 10/minute
    assert _token("clin", PASSWORD, addr="10.9.9.9").status_code == 200


def test_signed_in_api_users_are_throttled(monkeypatch, clinician):
    monkeypatch.setattr(
        UserRateThrottle, "THROTTLE_RATES", {**UserRateThrottle.THROTTLE_RATES, "user": "3/minute"}
    )
    api = APIClient()
    api.force_authenticate(clinician)
    codes = [api.get("/api/review/queue/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(client, clinician, settings):
    settings.PROXY_COUNT = 1
    for i in range(LIMIT):
        # The proxy is always 10.0.0.1; the left-hand entries are the client's to invent.
        forwarded = f"1.2.3.{i}, 192.0.2.7"
        client.post(
            reverse("login"),
            {"username": f"guess{i}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=forwarded,
        )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.7"}
    other = {"HTTP_X_FORWARDED_FOR": "192.0.2.8"}
    assert (
        client.post(reverse("login"), {"username": "clin", "password": PASSWORD}, **other).status_code == 302
    )

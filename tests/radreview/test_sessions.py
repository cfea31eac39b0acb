"""Session lifetime: an idle timeout for everyone, a browser-session cookie for
annotators and clinicians (issue 17)."""

import time

import pytest
from django.conf import settings
from django.urls import reverse

from radreview.sessions import LAST_ACTIVITY, POLL_HEADER
from tests.radreview.factories import PASSWORD

pytestmark = pytest.mark.django_db

JOBS = "/jobs/"


def _login(client, username):
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return response


def _idle_for(client, seconds):
    session = client.session
    session[LAST_ACTIVITY] = time.time() - seconds
    session.save()


def test_the_idle_timeout_is_thirty_minutes_and_no_session_outlives_twelve_hours():
    assert settings.SESSION_IDLE_TIMEOUT_SECONDS == 30 * 60
    assert settings.SESSION_COOKIE_AGE == 12 * 3600


@pytest.mark.parametrize("username", ["ann", "clin"])
def test_clinical_roles_sessions_end_with_the_browser(client, annotator, clinician, username):
    response = _login(client, username)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["expires"] == "" and cookie["max-age"] == ""
    assert client.session.get_expire_at_browser_close()


def test_an_admins_session_cookie_lasts_the_cookie_age(client, admin_user):
    response = _login(client, "boss")
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == settings.SESSION_COOKIE_AGE
    assert not client.session.get_expire_at_browser_close()


def test_an_idle_session_is_logged_out(client, clinician):
    _login(client, "clin")
    _idle_for(client, 31 * 60)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("home")).status_code == 302


def test_an_idle_api_session_is_refused(client, clinician):
    _login(client, "clin")
    _idle_for(client, 31 * 60)
    assert client.get("/api/review/queue/").status_code == 403


def test_a_request_before_the_timeout_keeps_the_session_and_renews_it(client, clinician):
    _login(client, "clin")
    _idle_for(client, 29 * 60)
    assert client.get(reverse("home")).status_code == 200
    assert time.time() - client.session[LAST_ACTIVITY] < 5


def test_polling_is_not_activity(client, admin_user):
    _login(client, "boss")
    _idle_for(client, 29 * 60)
    assert client.get(JOBS, headers={POLL_HEADER: "1"}).status_code == 200
    assert time.time() - client.session[LAST_ACTIVITY] > 28 * 60
    _idle_for(client, 31 * 60)
    assert client.get(JOBS, headers={POLL_HEADER: "1"}).status_code == 302


def test_the_timeout_is_a_setting(client, clinician, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 60
    _login(client, "clin")
    _idle_for(client, 90)
    assert client.get(reverse("home")).status_code == 302


def test_a_session_without_an_activity_stamp_gets_one(client, clinician):
    client.force_login(clinician)
    session = client.session
    del session[LAST_ACTIVITY]  # a session from before the timeout existed
    session.save()
    assert client.get(reverse("home")).status_code == 200
    assert time.time() - client.session[LAST_ACTIVITY] < 5

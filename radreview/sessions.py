"""Session lifetime for clinical text (issue 17; docs/decisions.md "Issue 17: sessions").

* Idle timeout: a signed-in session with no request for SESSION_IDLE_TIMEOUT_SECONDS
  is logged out by IdleTimeoutMiddleware. Polling (the progress sections that
  refresh every 2 s send the POLL_HEADER) is not activity, or an open runs page
  would keep a session alive forever. The last activity is written at most once a
  minute, so an active user costs one session write a minute, not one a request.
* Annotators and clinicians sign in with a session cookie that ends when the
  browser closes (session_start); admins keep theirs for SESSION_COOKIE_AGE.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponseBase

from radreview import roles

if TYPE_CHECKING:  # a model: importing it needs the app registry, annotations do not
    from django.contrib.auth.models import User

LAST_ACTIVITY = "radreview_last_activity"  # session key: epoch seconds
POLL_HEADER = "X-Idle-Poll"
WRITE_EVERY_SECONDS = 60
CLINICAL_ROLES = (roles.ANNOTATOR, roles.CLINICIAN)


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        now = time.time()
        last = request.session.get(LAST_ACTIVITY)
        if last is not None and now - last > settings.SESSION_IDLE_TIMEOUT_SECONDS:
            logout(request)  # request.user is anonymous now: the login check redirects
            return
        polling = POLL_HEADER in request.headers
        if last is None or (not polling and now - last >= WRITE_EVERY_SECONDS):
            request.session[LAST_ACTIVITY] = now


def session_start(sender: object, *, request: HttpRequest, user: User, **kwargs: object) -> None:
    """user_logged_in receiver (every way in: the login page, the admin's, the test
    client): the session's first activity, and for annotators and clinicians a cookie
    that ends with the browser. A receiver, not a LoginView, so no login path skips it."""
    request.session[LAST_ACTIVITY] = time.time()
    if set(roles.user_roles(user)) & set(CLINICAL_ROLES):
        request.session.set_expiry(0)

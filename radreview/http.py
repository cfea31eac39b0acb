"""The request types our views can rely on, for the type checker.

Django's HttpRequest does not know what the middleware adds: django-htmx's
HtmxMiddleware sets `request.htmx` on every request, and LoginRequiredMiddleware
lets no anonymous user reach a view that is not marked public. A view annotated
with one of these classes says which of those facts it uses; nothing changes at
run time (the object is still Django's request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:  # a model: importing it needs the app registry, annotations do not
    from django.contrib.auth.models import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that has passed LoginRequiredMiddleware (any view not marked public)."""

    user: User

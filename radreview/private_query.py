"""Filters that name a patient never travel in a URL (issue 17).

A URL lands in access logs (runserver and gunicorn log the path with its query),
in browser history and in Referer headers, so a page whose filters may carry a
patient id takes them as a form POST, keeps them in the user's session under a
random token, and redirects to `?f=<token>`. Links of the page (pagination, htmx
partials) carry the token, not the filters. The token is opaque: it names a
session entry and encodes nothing, unlike a signed value (django.core.signing
signs, it does not encrypt). docs/decisions.md, "Issue 17: patient ids out of URLs".

Parameters named in PRIVATE are dropped from a GET query: an old bookmark with
?patient= shows the unfiltered page instead of honouring (and so inviting) it.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest, QueryDict
from rest_framework import serializers

FILTER_PARAM = "f"  # the query parameter naming saved filters
PRIVATE = frozenset({"patient", "patient_id"})
SESSION_KEY = "private_filters"
KEEP = 20  # saved filters per session (per scope): older tokens then show the unfiltered page
NOT_FILTERS = frozenset({"csrfmiddlewaretoken", FILTER_PARAM})


def filters_save(request: HttpRequest, *, scope: str, data: QueryDict) -> str:
    """Keep the posted filters of one page (`scope`) in the session; the token
    that names them. A token of another scope never loads them."""
    saved: dict[str, Any] = request.session.get(SESSION_KEY, {})
    token = secrets.token_urlsafe(9)
    lists = {k: data.getlist(k) for k in data if k not in NOT_FILTERS}
    saved[token] = {"scope": scope, "data": lists}
    mine = [t for t, entry in saved.items() if entry["scope"] == scope]
    for old in mine[:-KEEP]:  # dicts keep insertion order: the oldest first
        del saved[old]
    request.session[SESSION_KEY] = saved
    return token


def filters_query(request: HttpRequest, *, scope: str) -> tuple[QueryDict, str]:
    """The filters of this request: the saved ones its `?f=` names (if any), under
    the GET parameters, less the private ones; and the token ("" when none)."""
    query = QueryDict(mutable=True)
    token = request.GET.get(FILTER_PARAM, "")
    entry = request.session.get(SESSION_KEY, {}).get(token) if token else None
    if entry is None or entry.get("scope") != scope:
        token = ""
    else:
        for name, values in entry["data"].items():
            query.setlist(name, values)
    for name in request.GET:
        if name not in PRIVATE and name != FILTER_PARAM:
            query.setlist(name, request.GET.getlist(name))
    return query, token


def link_query(request: HttpRequest, token: str, *, drop: tuple[str, ...] = ()) -> str:
    """The query string that the page's own links start from: the token and the
    public GET parameters, less `drop` (page, offset); "" or ending in "&"."""
    query = QueryDict(mutable=True)
    if token:
        query[FILTER_PARAM] = token
    for name in request.GET:
        if name not in PRIVATE and name != FILTER_PARAM and name not in drop:
            query.setlist(name, request.GET.getlist(name))
    encoded = query.urlencode()
    return f"{encoded}&" if encoded else ""


def reject_private_query(request: Any) -> None:
    """API: a patient filter in the query string is a 400 that says where it goes
    (the request line was logged already; the client learns not to send it again)."""
    named = sorted(PRIVATE & set(request.query_params))
    if named:
        raise serializers.ValidationError(
            {name: ["Send patient ids in a POST body, never in the URL."] for name in named}
        )

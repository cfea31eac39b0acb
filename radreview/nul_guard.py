"""Refuse requests that carry a NUL character in a parameter or a JSON / form body.

No input of RadReview may contain NUL (PostgreSQL text cannot store it, and the
importer already refuses it in reports), yet a NUL reaching a query, even a
lookup such as `Modality.objects.get(code="\\x00")`, makes PostgreSQL raise a
DataError: a 500 instead of a clear 400. Checking once here covers every view
and API endpoint. For multipart bodies only the form fields are checked (files
go to upload handlers as always; Django's CSRF check reads the same fields).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict

MESSAGE = "The request contains a NUL character (\\u0000), which no field accepts."
FORM_BODIES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _query_has_nul(query: Any) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in query.lists())


def request_has_nul(request: HttpRequest) -> bool:
    if _query_has_nul(request.GET):
        return True
    content_type = request.content_type or ""
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    if request.method == "POST" and content_type in FORM_BODIES:
        return _query_has_nul(request.POST)  # Django's parse, which DRF reuses
    if content_type == "application/x-www-form-urlencoded":  # PUT / PATCH: Django leaves it to DRF
        return _query_has_nul(QueryDict(request.body, encoding=request.encoding))
    if content_type != "application/json":
        return False
    body = request.body  # bounded by DATA_UPLOAD_MAX_MEMORY_SIZE
    if b"\\u0000" not in body:  # JSON can only carry NUL escaped
        return False
    try:
        return _has_nul(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        return False  # malformed JSON: the parser answers 400 itself


class NulCharacterGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request_has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE}, status=400)
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

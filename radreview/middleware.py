"""Every page requires login unless its view is explicitly marked public.

Django 5.1's LoginRequiredMiddleware redirects browsers to the login page; API
views answer 401/403 through DRF's own authentication instead, so /api/ is left
to DRF.
"""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware as _Base
from django.http import HttpRequest, HttpResponseBase


class LoginRequiredMiddleware(_Base):
    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


# Responses a browser may keep: they carry no report text and name their own lifetime.
CACHEABLE_TYPES = ("text/javascript", "application/javascript", "text/css", "image/", "font/")


class NoStoreMiddleware:
    """Cache-Control: no-store on every page, fragment, API answer and export.

    Report text is PHI: it must not stay in the browser's or a proxy's cache after
    logout, nor come back with the back button on a shared workstation. Static
    files never get here (WhiteNoise answers them first); a script or stylesheet a
    view serves keeps the Cache-Control it sets.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not response.get("Content-Type", "").startswith(CACHEABLE_TYPES):
            response["Cache-Control"] = "no-store"
        return response

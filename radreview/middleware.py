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

"""Every page requires login unless its view is explicitly marked public.

Django 5.1's LoginRequiredMiddleware redirects browsers to the login page; API
views answer 401/403 through DRF's own authentication instead, so /api/ is left
to DRF.
"""

from django.contrib.auth.middleware import LoginRequiredMiddleware as _Base
from django.http import HttpRequest


class LoginRequiredMiddleware(_Base):
    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):  # type: ignore[no-untyped-def]
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)

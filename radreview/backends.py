"""The one authentication backend: Django's ModelBackend behind django-axes' lockout check.

Axes' own AxesBackend only checks; it expects ModelBackend listed after it. Two
backends would make User.objects.with_perm() demand a `backend` argument at every
call, so the check and the password test are one class here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from axes.backends import AxesBackend
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

if TYPE_CHECKING:  # a model: importing it needs the app registry, annotations do not
    from django.contrib.auth.models import User


class LockoutModelBackend(AxesBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        # Raises PermissionDenied for a locked-out username or address: authenticate()
        # then stops and reports a failed login, which axes counts.
        super().authenticate(request, username=username, password=password, **kwargs)
        return ModelBackend.authenticate(self, request, username=username, password=password, **kwargs)

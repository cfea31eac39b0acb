"""The DRF permission check every app's API uses: role permissions, never group names."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def perm(*codenames: str) -> type[BasePermission]:
    """A DRF permission class that admits a signed-in user holding any one of the
    Django permissions `codenames` (e.g. radreview.roles.PERM_RUN_JOBS)."""

    class HasPerm(BasePermission):
        def has_permission(self, request: Request, view: APIView) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and any(user.has_perm(c) for c in codenames))

    HasPerm.__name__ = f"Has({'|'.join(codenames)})"
    return HasPerm

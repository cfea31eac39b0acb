"""Who may do what in review. Views and API endpoints call these; they check
permissions (never group names), as radreview/roles.py explains.

Verifying is PERM_REVIEW (the clinician group), held through a group or a direct
grant: superuser status alone does not grant it (radreview.roles.has_role_perm).
A report's decision history is also open to admins: the admin role grants
"review.view_reviewdecision".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from radreview.roles import PERM_REVIEW, has_role_perm

PERM_VIEW_HISTORY = "review.view_reviewdecision"


def can_view_history(user: Any) -> bool:
    if not (user and user.is_authenticated):
        return False
    return any(user.has_perm(p) for p in (PERM_REVIEW, PERM_VIEW_HISTORY))


def can_review(user: Any) -> bool:
    return has_role_perm(user, PERM_REVIEW)


def review_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view only a clinician may open (403 otherwise), superusers included."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_review(request.user):
            raise PermissionDenied("Only clinicians verify AI findings.")
        return view(request, *args, **kwargs)

    return wrapped

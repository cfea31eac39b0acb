"""Who may see and do what in analytics.

- Viewing the evaluation dashboard, model comparisons and the longitudinal view:
  admins (they run jobs) and clinicians (they verify AI findings, so they should
  see how good the AI is, and the longitudinal view is clinical). Annotators do
  not: the pages show no work of theirs and patient-level episode histories.
- Starting an evaluation run: admins only (PERM_RUN_JOBS), like every job.
- Promoting a model: PERM_PROMOTE, on the stage 1 pages.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from radreview.roles import PERM_REVIEW, PERM_RUN_JOBS

VIEW_PERMS = (PERM_RUN_JOBS, PERM_REVIEW)


def can_view_analytics(user: Any) -> bool:
    return any(user.has_perm(p) for p in VIEW_PERMS)


def analytics_viewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_view_analytics(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped

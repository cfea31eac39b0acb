"""Who may do what in review. Views and API endpoints call these; they check
permissions (never group names), as radreview/roles.py explains.

Verifying is PERM_REVIEW (the clinician group). A report's decision history is
also open to admins: the admin role grants "review.view_reviewdecision".
"""

from __future__ import annotations

from typing import Any

from radreview.roles import PERM_REVIEW

PERM_VIEW_HISTORY = "review.view_reviewdecision"


def can_view_history(user: Any) -> bool:
    if not (user and user.is_authenticated):
        return False
    return any(user.has_perm(p) for p in (PERM_REVIEW, PERM_VIEW_HISTORY))

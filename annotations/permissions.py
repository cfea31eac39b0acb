"""Who may do what to an assignment. Views and API endpoints call these; they
check permissions (never group names), as radreview/roles.py explains.

The two permissions below are declared on Assignment (migration 0004) and held
by the admin group through its "annotations.*" grant.
"""

from __future__ import annotations

from typing import Any

from annotations.models import Assignment
from radreview.roles import PERM_ADJUDICATE, PERM_ANNOTATE, PERM_ASSIGN

__all__ = ["PERM_ADJUDICATE", "PERM_ASSIGN", "can_edit_assignment"]


def can_edit_assignment(user: Any, assignment: Assignment) -> bool:
    """Only the assignment's owner edits it: an annotator their annotation, an
    admin their adjudication. Imported gold is never edited here."""
    if not user.is_authenticated or assignment.annotator_id != user.pk:
        return False
    if assignment.kind == Assignment.Kind.ANNOTATION:
        return user.has_perm(PERM_ANNOTATE)
    if assignment.kind == Assignment.Kind.ADJUDICATION:
        return user.has_perm(PERM_ADJUDICATE)
    return False

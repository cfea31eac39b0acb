"""Helpers shared by the annotation API modules.

Services raise django's ValidationError; `service_call` turns it into a 400 with the
message, or a 409 where its code is CONFLICT: the request is well formed but the
data's current state refuses it (radreview.conflict). Reads go through selectors
and the workspace read model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.request import Request

from annotations.models import Assignment, EntityValue, Mention, Relation
from annotations.permissions import PERM_ADJUDICATE, can_edit_assignment
from annotations.workspace import workspace_build
from radreview.api_permissions import perm  # noqa: F401  (the API modules import it from here)
from radreview.conflict import is_conflict

T = TypeVar("T")


def service_call(call: Callable[..., T], **kwargs: Any) -> T:
    """Call a service; its django ValidationError becomes a DRF 400 with the same
    message (a 409 when every error's code is CONFLICT)."""
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        if is_conflict(exc):
            raise Conflict(detail) from None
        raise serializers.ValidationError(detail) from None


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's state refuses this request."
    default_code = "conflict"


def assignment_for(request: Request, pk: int, *, edit: bool) -> Assignment:
    """The assignment if the user may edit it (or, for reads, adjudicate); 404/403 otherwise."""
    assignment = get_object_or_404(Assignment.objects.select_related("report__modality", "annotator"), pk=pk)
    if can_edit_assignment(request.user, assignment):
        return assignment
    if not edit and request.user.has_perm(PERM_ADJUDICATE):
        return assignment
    raise PermissionDenied("This report is not assigned to you.")


# -- output --------------------------------------------------------------------------------


def mention_out(m: Mention, text: str) -> dict[str, Any]:
    return {
        "id": m.pk,
        "key": m.key.name,
        "key_id": m.key_id,
        "start": m.start,
        "end": m.end,
        "text": text[m.start : m.end],
        "negated": m.negated,
        "uncertain": m.uncertain,
    }


def relation_out(r: Relation) -> dict[str, Any]:
    return {
        "id": r.pk,
        "source_key": r.source_key.name,
        "target_key": r.target_key.name,
        "source_mention": r.source_mention_id,
        "target_mention": r.target_mention_id,
    }


def assignment_row(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "kind": a.kind,
        "status": a.status,
        "no_findings": a.no_findings,
        "rank": a.rank,
        "annotator": a.annotator.get_username(),
        "submitted_at": a.submitted_at,
        "report": {
            "id": a.report_id,
            "external_id": a.report.external_id,
            "modality": a.report.modality.code,
            "study_datetime": a.report.study_datetime,
        },
    }


def workspace_out(
    request: Request, assignment: Assignment, *, with_suggestions: bool = True
) -> dict[str, Any]:
    ws = workspace_build(assignment=assignment, user=request.user, with_suggestions=with_suggestions)
    text = assignment.report.text
    return {
        **assignment_row(assignment),
        "editable": ws.editable,
        "text": text,
        "offsets": "Unicode code points into text, [start, end)",
        "mentions": [mention_out(row.mention, text) for row in ws.rows],
        "relations": [relation_out(r) for r in ws.relations],
        "suggestions": [
            {"key": s.key.name, "key_id": s.key.pk, "start": s.start, "end": s.end, "text": s.text}
            for s in ws.suggestions
        ],
        "issues": [
            {"code": i.code, "message": i.message, "mentions": list(i.mention_ids)} for i in ws.issues
        ],
    }


def value_out(v: EntityValue) -> dict[str, Any]:
    return {
        "id": v.pk,
        "key": v.key.name,
        "key_id": v.key_id,
        "text": v.text,
        "kind": v.kind,
        "case_sensitive": v.case_sensitive,
        "report_count": v.report_count,
        "counted_at": v.counted_at,
        "created_by": v.created_by.get_username() if v.created_by else None,
        "created_at": v.created_at,
    }

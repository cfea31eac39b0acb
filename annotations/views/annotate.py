"""The annotation workspace: one report, its mentions, pairs and suggestions.

GET serves the page, or to htmx the #workspace fragment. Every POST changes one
thing through services.annotation and answers, to htmx, the re-rendered
workspace (no page reloads); without htmx it redirects back to the page. A
ValidationError becomes a message in the workspace; editing someone else's
assignment is a 403.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotations import selectors
from annotations.models import Assignment, Mention, Relation
from annotations.permissions import PERM_ADJUDICATE, can_edit_assignment
from annotations.services import annotation
from annotations.workspace import workspace_build
from radreview.http import HtmxHttpRequest

TEMPLATE = "annotations/annotate.html"


def _assignment(request: HtmxHttpRequest, assignment_id: int, *, edit: bool) -> Assignment:
    assignment = get_object_or_404(
        Assignment.objects.select_related("report__modality", "annotator"), pk=assignment_id
    )
    if can_edit_assignment(request.user, assignment):
        return assignment
    if not edit and request.user.has_perm(PERM_ADJUDICATE):
        return assignment  # admins may look at any version (read-only)
    raise PermissionDenied("This report is not assigned to you.")


def _render(request: HtmxHttpRequest, assignment: Assignment, **extra: Any) -> HttpResponse:
    ws = workspace_build(
        assignment=assignment, user=request.user, before_submit=bool(extra.get("submit_blocked"))
    )
    context = {"ws": ws, "ws_data": ws.client_data(), **extra}
    if assignment.status == Assignment.Status.SUBMITTED and assignment.annotator_id == request.user.pk:
        context["next"] = selectors.assignment_next(user=request.user, after=assignment)
    return render(request, f"{TEMPLATE}#workspace" if request.htmx else TEMPLATE, context)


@require_GET
def annotate(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    return _render(request, _assignment(request, assignment_id, edit=False))


def _act(request: HtmxHttpRequest, assignment_id: int, change: Callable[[Assignment], Any]) -> HttpResponse:
    """Apply `change`; it may return the id of the mention to focus next."""
    assignment = _assignment(request, assignment_id, edit=True)
    error, focus = "", None
    try:
        focus = change(assignment)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    # Only the fields a change may touch: a full refresh would drop the cached
    # report, modality and annotator and cost three queries to read them again.
    assignment.refresh_from_db(fields=["status", "no_findings", "submitted_at"])
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("annotations:annotate", assignment_id=assignment.pk)
    return _render(request, assignment, error=error, focus=focus)


def _flag(value: str | None) -> bool:
    return value in ("1", "true", "on", "yes")


@require_POST
def mention_create(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    data = request.POST

    def change(assignment: Assignment) -> int:
        mention = annotation.mention_create(
            assignment=assignment,
            user=request.user,
            key_id=data.get("key"),
            start=data.get("start"),
            end=data.get("end"),
            text=data.get("text"),
            negated=_flag(data.get("negated")),
            uncertain=_flag(data.get("uncertain")),
            learn=not _flag(data.get("suggestion")),
        )
        return mention.pk

    return _act(request, assignment_id, change)


@require_POST
def mention_update(request: HtmxHttpRequest, assignment_id: int, mention_id: int) -> HttpResponse:
    data = request.POST

    def change(assignment: Assignment) -> int:
        mention = get_object_or_404(
            Mention.objects.select_related("key"), pk=mention_id, assignment=assignment
        )
        field = data.get("field")
        if field in annotation.FLAGS:
            annotation.mention_flag_toggle(mention=mention, user=request.user, flag=field)
        elif field == "key":
            annotation.mention_update(mention=mention, user=request.user, key_id=data.get("key"))
        elif field == "span":
            annotation.mention_update(
                mention=mention,
                user=request.user,
                start=data.get("start"),
                end=data.get("end"),
                text=data.get("text"),
            )
        else:
            raise ValidationError("Nothing to change.")
        return mention.pk

    return _act(request, assignment_id, change)


@require_POST
def mention_delete(request: HtmxHttpRequest, assignment_id: int, mention_id: int) -> HttpResponse:
    def change(assignment: Assignment) -> None:
        mention = get_object_or_404(Mention, pk=mention_id, assignment=assignment)
        annotation.mention_delete(mention=mention, user=request.user)

    return _act(request, assignment_id, change)


@require_POST
def suggestions_accept(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    def change(assignment: Assignment) -> None:
        ws = workspace_build(assignment=assignment, user=request.user)
        spans = [(s.key.pk, s.start, s.end) for s in ws.suggestions]
        annotation.mentions_accept(assignment=assignment, user=request.user, spans=spans)

    return _act(request, assignment_id, change)


@require_POST
def relation_create(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    data = request.POST
    target = data.get("target", "")  # "m<id>" for a mention, "k<id>" for a key without a span

    def change(assignment: Assignment) -> Any:
        annotation.relation_create(
            assignment=assignment,
            user=request.user,
            source_mention_id=data.get("source"),
            target_mention_id=target[1:] if target.startswith("m") else None,
            target_key_id=target[1:] if target.startswith("k") else None,
        )
        return data.get("source")

    return _act(request, assignment_id, change)


@require_POST
def relation_delete(request: HtmxHttpRequest, assignment_id: int, relation_id: int) -> HttpResponse:
    def change(assignment: Assignment) -> None:
        relation = get_object_or_404(Relation, pk=relation_id, assignment=assignment)
        annotation.relation_delete(relation=relation, user=request.user)

    return _act(request, assignment_id, change)


@require_POST
def no_findings(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    def change(assignment: Assignment) -> None:
        annotation.assignment_set_no_findings(
            assignment=assignment, user=request.user, no_findings=_flag(request.POST.get("no_findings"))
        )

    return _act(request, assignment_id, change)


@require_POST
def submit(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment(request, assignment_id, edit=True)
    try:
        result = annotation.assignment_submit(
            assignment=assignment, user=request.user, force=_flag(request.POST.get("force"))
        )
    except ValidationError as exc:
        return _render(request, assignment, error=" ".join(exc.messages))
    if not request.htmx:
        if result.submitted:
            messages.success(request, "Submitted.")
            return redirect("annotations:queue")
        messages.warning(request, "Check the issues below, then submit anyway if they are intended.")
        return redirect("annotations:annotate", assignment_id=assignment.pk)
    return _render(request, assignment, submit_blocked=not result.submitted, just_submitted=result.submitted)


@require_POST
def reopen(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = _assignment(request, assignment_id, edit=True)
    try:
        annotation.assignment_reopen(assignment=assignment, user=request.user)
    except ValidationError as exc:
        return _render(request, assignment, error=" ".join(exc.messages))
    if not request.htmx:
        return redirect("annotations:annotate", assignment_id=assignment.pk)
    return _render(request, assignment)

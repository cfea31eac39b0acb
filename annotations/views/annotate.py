"""The annotation workspace: one report, its mentions, pairs and suggestions.

GET serves the page, or to htmx the #workspace fragment. Every POST changes one
thing through services.annotation and answers, to htmx, the re-rendered
workspace (no page reloads); without htmx it redirects back to the page. A
ValidationError becomes a message in the workspace; editing someone else's
assignment is a 403.

Undo: a change that can be undone stores, in the session, the snapshot of the
mentions it touches as they were before (services.undo), and the re-rendered
workspace carries the snapshot's token (data-undo-token). annotate.js keeps the
tokens of this report's changes as its undo stack; Ctrl+Z POSTs one to undo/,
which restores the snapshot and answers with the token of what it replaced: the
redo. The session keeps the last UNDO_KEEP snapshots of the last UNDO_REPORTS
reports, so undo is bounded to a report and the session stays small.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotations import selectors
from annotations.models import Assignment, Mention, Relation
from annotations.permissions import PERM_ADJUDICATE, can_edit_assignment
from annotations.services import annotation, undo
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


@dataclass
class Done:
    """What a change did: the mention to focus next, the snapshot that undoes it,
    and a message for the toast (deletes always say what went with them)."""

    focus: Any = None
    snapshot: undo.Snapshot | None = None
    toast: str = ""


UNDO_SESSION_KEY = "workspace_undo"
UNDO_KEEP = 100  # snapshots per report
UNDO_REPORTS = 5


def _remember(request: HtmxHttpRequest, snapshot: undo.Snapshot) -> str:
    store: dict[str, dict[str, Any]] = request.session.get(UNDO_SESSION_KEY, {})
    mine = store.pop(str(snapshot["assignment"]), {})
    token = secrets.token_urlsafe(9)
    mine[token] = snapshot
    store[str(snapshot["assignment"])] = dict(list(mine.items())[-UNDO_KEEP:])  # newest report last
    request.session[UNDO_SESSION_KEY] = dict(list(store.items())[-UNDO_REPORTS:])
    return token


def _recall(request: HtmxHttpRequest, assignment: Assignment, token: str) -> undo.Snapshot:
    store = request.session.get(UNDO_SESSION_KEY, {})
    snapshot = store.get(str(assignment.pk), {}).pop(token, None)
    if snapshot is None:
        raise ValidationError("Nothing to undo here any more (the page is older than the last changes).")
    request.session[UNDO_SESSION_KEY] = store
    return snapshot


def _act(
    request: HtmxHttpRequest,
    assignment_id: int,
    change: Callable[[Assignment], Any],
    *,
    undo_kind: str = "do",
) -> HttpResponse:
    """Apply `change`; it may return the id of the mention to focus next, or a Done."""
    assignment = _assignment(request, assignment_id, edit=True)
    error, done = "", Done()
    try:
        result = change(assignment)
        done = result if isinstance(result, Done) else Done(focus=result)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    # Only the fields a change may touch: a full refresh would drop the cached
    # report, modality and annotator and cost three queries to read them again.
    assignment.refresh_from_db(fields=["status", "no_findings", "submitted_at"])
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("annotations:annotate", assignment_id=assignment.pk)
    snapshot = done.snapshot if not error else None
    extra = {
        "undo_token": _remember(request, snapshot) if snapshot else "",
        "undo_kind": undo_kind,
        "undo_label": snapshot["label"] if snapshot else "",
    }
    return _render(request, assignment, error=error, focus=done.focus, toast=done.toast, **extra)


def _quote(text: str) -> str:
    return f"“{text if len(text) <= 40 else text[:39] + '…'}”"


def _mention_label(assignment: Assignment, mention: Mention) -> str:
    return f"{mention.key.name} {_quote(assignment.report.text[mention.start : mention.end])}"


def _pairs(n: int) -> str:
    return f"{n} pair{'s' if n != 1 else ''}"


def _flag(value: str | None) -> bool:
    return value in ("1", "true", "on", "yes")


@require_POST
def mention_create(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    data = request.POST

    def change(assignment: Assignment) -> Done:
        suggested = _flag(data.get("suggestion"))
        mention = annotation.mention_create(
            assignment=assignment,
            user=request.user,
            key_id=data.get("key"),
            start=data.get("start"),
            end=data.get("end"),
            text=data.get("text"),
            negated=_flag(data.get("negated")),
            uncertain=_flag(data.get("uncertain")),
            learn=not suggested,
            rules_assertion=suggested,
        )
        verb = "accept" if suggested else "add"
        flag = " (negated)" if mention.negated else " (uncertain)" if mention.uncertain else ""
        label = f"{verb} {_mention_label(assignment, mention)}{flag}"
        # Before the change the mention did not exist: undo deletes it.
        return Done(
            focus=mention.pk,
            snapshot=undo.snapshot_absent(assignment=assignment, mention_ids=[mention.pk], label=label),
        )

    return _act(request, assignment_id, change)


@require_POST
def mention_update(request: HtmxHttpRequest, assignment_id: int, mention_id: int) -> HttpResponse:
    data = request.POST

    def change(assignment: Assignment) -> Done:
        mention = get_object_or_404(
            Mention.objects.select_related("key"), pk=mention_id, assignment=assignment
        )
        field = data.get("field")
        before = undo.snapshot_take(assignment=assignment, mention_ids=[mention.pk])
        old_label = _mention_label(assignment, mention)
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
        lost = (
            len(before["relations"])
            if field == "key" and mention.key_id != before["mentions"][str(mention.pk)]["key_id"]
            else 0
        )
        before["label"] = {
            "key": f"key of {old_label} → {mention.key.name}"
            + (f" (removed {_pairs(lost)})" if lost else ""),
            "span": f"move {old_label}",
        }.get(field or "", f"{field} on {old_label}")
        toast = (
            f"Changed the key of {old_label} to {mention.key.name}: its {_pairs(lost)} went with the old key."
            if lost
            else ""
        )
        return Done(focus=mention.pk, snapshot=before, toast=toast)

    return _act(request, assignment_id, change)


@require_POST
def mention_delete(request: HtmxHttpRequest, assignment_id: int, mention_id: int) -> HttpResponse:
    def change(assignment: Assignment) -> Done:
        mention = get_object_or_404(
            Mention.objects.select_related("key"), pk=mention_id, assignment=assignment
        )
        label = _mention_label(assignment, mention)
        before = undo.snapshot_take(assignment=assignment, mention_ids=[mention.pk])
        annotation.mention_delete(mention=mention, user=request.user)
        pairs = len(before["relations"])
        before["label"] = f"delete {label}" + (f" and its {_pairs(pairs)}" if pairs else "")
        # Never a silent cascade: the toast names the pairs that went too.
        toast = f"Deleted {label}" + (f" and its {_pairs(pairs)}" if pairs else "") + "."
        return Done(snapshot=before, toast=toast)

    return _act(request, assignment_id, change)


@require_POST
def suggestions_accept(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    def change(assignment: Assignment) -> Done:
        ws = workspace_build(assignment=assignment, user=request.user)
        spans = [(s.key.pk, s.start, s.end) for s in ws.suggestions]
        created = annotation.mentions_accept(assignment=assignment, user=request.user, spans=spans)
        negated = [m for m in created if m.negated]
        uncertain = [m for m in created if m.uncertain]
        label = f"accept {len(created)} suggestion{'s' if len(created) != 1 else ''}"
        toast = f"Accepted {len(created)} suggestion{'s' if len(created) != 1 else ''}"
        read = [f"{len(ms)} as {word}" for ms, word in ((negated, "negated"), (uncertain, "uncertain")) if ms]
        if read:
            names = ", ".join(dict.fromkeys(_mention_label(assignment, m) for m in [*negated, *uncertain]))
            toast += f", {' and '.join(read)} as the rules read them ({names})"
        ids = [m.pk for m in created]
        snapshot = undo.snapshot_absent(assignment=assignment, mention_ids=ids, label=label) if ids else None
        return Done(snapshot=snapshot, toast=toast + ".")

    return _act(request, assignment_id, change)


@require_POST
def relation_create(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    data = request.POST
    target = data.get("target", "")  # "m<id>" for a mention, "k<id>" for a key without a span

    def change(assignment: Assignment) -> Done:
        relation = annotation.relation_create(
            assignment=assignment,
            user=request.user,
            source_mention_id=data.get("source"),
            target_mention_id=target[1:] if target.startswith("m") else None,
            target_key_id=target[1:] if target.startswith("k") else None,
        )
        ends = [i for i in (relation.source_mention_id, relation.target_mention_id) if i]
        before = undo.snapshot_take(assignment=assignment, mention_ids=ends)
        # Taken after the create: leave the new pair out, and undo removes it.
        before["relations"] = [r for r in before["relations"] if r["id"] != relation.pk]
        before["label"] = f"pair {relation.source_key.name} → {relation.target_key.name}"
        return Done(focus=relation.source_mention_id, snapshot=before)

    return _act(request, assignment_id, change)


@require_POST
def relation_delete(request: HtmxHttpRequest, assignment_id: int, relation_id: int) -> HttpResponse:
    def change(assignment: Assignment) -> Done:
        relation = get_object_or_404(
            Relation.objects.select_related("source_key", "target_key"), pk=relation_id, assignment=assignment
        )
        ends = [i for i in (relation.source_mention_id, relation.target_mention_id) if i]
        before = undo.snapshot_take(
            assignment=assignment,
            mention_ids=ends,
            label=f"remove pair {relation.source_key.name} → {relation.target_key.name}",
        )
        annotation.relation_delete(relation=relation, user=request.user)
        return Done(focus=relation.source_mention_id, snapshot=before if ends else None)

    return _act(request, assignment_id, change)


@require_POST
def undo_restore(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    """Undo (or redo) a change: restore the snapshot behind the token; the answer
    carries the token of the state it replaced, which redoes (or undoes) it."""
    kind = "redo" if request.POST.get("kind") == "redo" else "undo"

    def change(assignment: Assignment) -> Done:
        snapshot = _recall(request, assignment, request.POST.get("token", ""))
        replaced = undo.snapshot_restore(assignment=assignment, user=request.user, snapshot=snapshot)
        present = [int(i) for i, m in snapshot["mentions"].items() if m]
        verb = "Undone" if kind == "undo" else "Redone"
        return Done(
            focus=present[0] if len(present) == 1 else None,
            snapshot=replaced,
            toast=f"{verb}: {snapshot['label']}.",
        )

    return _act(request, assignment_id, change, undo_kind=kind)


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

"""Undo and redo in the annotation workspace, as snapshots of mentions.

Before a change, the workspace takes a snapshot of the mentions the change
touches (`snapshot_take`): each mention's key, span and flags, or "absent" for a
mention the change is about to create, and every pair that involves one of them.
Undo is `snapshot_restore`: put those mentions and their pairs back exactly as
they were, recreating deleted rows under their old ids. It first takes the
snapshot of the current state, which it returns: restoring that one is the redo.
So one operation serves undo and redo, and the ids a later undo refers to stay
valid (a restored mention is the same row id, never a new one).

Snapshots are plain JSON (the session keeps them, see views.annotate) and come
only from rows that existed in this assignment, so an old id is never invented.
A restore re-checks what any edit checks (the assignment is editable by `user`,
keys belong to the report's modality) and is all or nothing: a pair whose other
mention is gone is an error message, and nothing changes.

Entity values learned from a span stay learned after an undo: the lexicon is
shared with other annotators' suggestions, and removing a value is an admin's
decision on the values page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from annotations.models import Assignment, EntityKey, Mention, Relation
from annotations.services.annotation import assignment_check_editable, assignment_touch

Snapshot = dict[str, Any]

_MENTION_FIELDS = ("key_id", "start", "end", "negated", "uncertain", "created_by_id")
_RELATION_FIELDS = (
    "source_key_id",
    "target_key_id",
    "source_mention_id",
    "target_mention_id",
    "created_by_id",
)


def snapshot_take(*, assignment: Assignment, mention_ids: Iterable[int], label: str = "") -> Snapshot:
    """The state of these mentions of `assignment` and of every pair that involves
    one of them; an id with no mention here is recorded as absent."""
    ids = sorted({int(i) for i in mention_ids})
    rows = {
        m["id"]: m
        for m in Mention.objects.filter(assignment=assignment, pk__in=ids).values("id", *_MENTION_FIELDS)
    }
    relations = (
        Relation.objects.filter(assignment=assignment)
        .filter(Q(source_mention_id__in=ids) | Q(target_mention_id__in=ids))
        .order_by("id")
        .values("id", *_RELATION_FIELDS)
    )
    return {
        "assignment": assignment.pk,
        "label": label,
        "mentions": {str(i): _without_id(rows[i]) if i in rows else None for i in ids},
        "relations": [dict(r) for r in relations],
    }


def snapshot_absent(*, assignment: Assignment, mention_ids: Iterable[int], label: str = "") -> Snapshot:
    """The snapshot of mentions before they were created: restoring it deletes them."""
    ids = sorted({int(i) for i in mention_ids})
    return {
        "assignment": assignment.pk,
        "label": label,
        "mentions": {str(i): None for i in ids},
        "relations": [],
    }


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def snapshot_summary(snapshot: Snapshot) -> tuple[int, int]:
    """(mentions present, pairs) in a snapshot: what its restore brings back."""
    return sum(1 for m in snapshot["mentions"].values() if m), len(snapshot["relations"])


@transaction.atomic
def snapshot_restore(*, assignment: Assignment, user: Any, snapshot: Snapshot) -> Snapshot:
    """Put the snapshot's mentions and their pairs back as they were; returns the
    snapshot of what it replaced (restoring that one redoes the change)."""
    assignment_check_editable(assignment=assignment, user=user)
    if snapshot.get("assignment") != assignment.pk:
        raise ValidationError("This undo belongs to another report.")
    ids = [int(i) for i in snapshot["mentions"]]
    current = snapshot_take(assignment=assignment, mention_ids=ids, label=snapshot.get("label", ""))
    if Mention.objects.filter(pk__in=ids).exclude(assignment=assignment).exists():
        raise ValidationError("This undo belongs to another report.")
    keys = set(
        EntityKey.objects.filter(entity_type__modality_id=assignment.report.modality_id).values_list(
            "pk", flat=True
        )
    )
    wanted_relations = {r["id"] for r in snapshot["relations"]}
    # Pairs first: a pair the snapshot does not have goes, whatever its mentions become.
    Relation.objects.filter(assignment=assignment).filter(
        Q(source_mention_id__in=ids) | Q(target_mention_id__in=ids)
    ).exclude(pk__in=wanted_relations).delete()
    try:
        with transaction.atomic():
            _restore_mentions(assignment, snapshot["mentions"], keys)
            _restore_relations(assignment, snapshot["relations"], keys)
    except IntegrityError:
        raise ValidationError(
            "Cannot undo: the report changed since (the same span is marked again, or a pair exists)."
        ) from None
    assignment_touch(assignment)
    return current


def _restore_mentions(assignment: Assignment, mentions: dict[str, Any], keys: set[int]) -> None:
    existing = {
        m.pk: m for m in Mention.objects.filter(assignment=assignment, pk__in=[int(i) for i in mentions])
    }
    text_length = len(assignment.report.text)
    for pk_text, state in mentions.items():
        pk = int(pk_text)
        if state is None:
            if pk in existing:
                existing[pk].delete()  # its pairs go with it, as in mention_delete
            continue
        if state["key_id"] not in keys or not 0 <= state["start"] < state["end"] <= text_length:
            raise ValidationError("Cannot undo: the schema or the report changed since.")
        mention = existing.get(pk) or Mention(pk=pk, assignment=assignment, report_id=assignment.report_id)
        for name in _MENTION_FIELDS:
            setattr(mention, name, state[name])
        mention.save()


def _restore_relations(assignment: Assignment, relations: list[dict[str, Any]], keys: set[int]) -> None:
    present = set(Relation.objects.filter(pk__in=[r["id"] for r in relations]).values_list("pk", flat=True))
    mentions = set(Mention.objects.filter(assignment=assignment).values_list("pk", flat=True))
    for state in relations:
        if state["id"] in present:
            continue  # pairs never change in place: it is as it was
        ends = [state["source_mention_id"], state["target_mention_id"]]
        if any(m is not None and m not in mentions for m in ends):
            raise ValidationError("Cannot undo: a mention this pair needs was removed since.")
        if state["source_key_id"] not in keys or state["target_key_id"] not in keys:
            raise ValidationError("Cannot undo: the schema changed since.")
        Relation.objects.create(
            pk=state["id"],
            assignment=assignment,
            report_id=assignment.report_id,
            **{name: state[name] for name in _RELATION_FIELDS},
        )

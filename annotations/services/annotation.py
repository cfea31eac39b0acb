"""Writes of the annotation workspace: mentions, pairs, the no-findings flag,
submit and reopen. Every function checks that `user` may edit the assignment
(PermissionDenied) and that the input is valid (ValidationError with a message
the annotator can act on); views and API endpoints only translate those.

Offsets are Unicode code points into Report.text, [start, end). The browser
sends the selected text along with its offsets and the server refuses a span
whose text differs, so a disagreement between the browser's and the server's
idea of an offset is an error message, never a silently wrong span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from annotations.models import Assignment, EntityKey, Mention, Relation
from annotations.permissions import can_edit_assignment
from annotations.selectors import site_detector
from annotations.services.consistency import FINDING_ROLES, Issue, assignment_issues
from annotations.services.values import entity_value_learn
from inference.ml.text.assertion import HISTORICAL, NEGATED, UNCERTAIN

# Its mentions are offsets into the old text: kept as they were, never changed (issue 16).
SUPERSEDED = "This report was corrected: its new revision replaces it, and this version is read-only."


def assignment_check_editable(*, assignment: Assignment, user: Any) -> None:
    if not can_edit_assignment(user, assignment):
        raise PermissionDenied("You cannot edit this assignment.")
    if assignment.status == Assignment.Status.SUBMITTED:
        raise ValidationError("This report is submitted. Reopen it to change it.")
    if assignment.report.superseded_at is not None:
        raise ValidationError(SUPERSEDED)


def assignment_touch(assignment: Assignment) -> None:
    """An edit moves a to-do assignment to in progress."""
    now = timezone.now()
    if assignment.status == Assignment.Status.TODO:
        assignment.status = Assignment.Status.IN_PROGRESS
    Assignment.objects.filter(pk=assignment.pk).update(status=assignment.status, updated_at=now)


def mention_span_check(text: str, start: Any, end: Any, expected: str | None = None) -> tuple[int, int]:
    """Validate a span of `text` and trim whitespace off its edges."""
    try:
        start, end = int(start), int(end)
    except (TypeError, ValueError):
        raise ValidationError("Offsets must be whole numbers.") from None
    if not 0 <= start < end <= len(text):
        raise ValidationError(f"Offsets must satisfy 0 ≤ start < end ≤ {len(text)}; got {start}–{end}.")
    if expected is not None and text[start:end] != expected:
        raise ValidationError(
            "The selected text does not match the report at these offsets (code points); reload the page."
        )
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        raise ValidationError("Select some text, not only spaces.")
    return start, end


def _key(assignment: Assignment, key_id: Any) -> EntityKey:
    try:
        return EntityKey.objects.select_related("entity_type").get(
            pk=int(key_id), entity_type__modality_id=assignment.report.modality_id, is_active=True
        )
    except (TypeError, ValueError, EntityKey.DoesNotExist):
        raise ValidationError("Choose a key of this report's modality.") from None


@transaction.atomic
def mention_create(
    *,
    assignment: Assignment,
    user: Any,
    key_id: Any,
    start: Any,
    end: Any,
    text: str | None = None,
    negated: bool = False,
    uncertain: bool = False,
    learn: bool = True,
    rules_assertion: bool = False,
) -> Mention:
    """Label a span with a key. With `learn`, its text becomes an entity value of
    the key if no value expresses it yet. With `rules_assertion` (an accepted
    suggestion), negated and uncertain are what the assertion rules read."""
    assignment_check_editable(assignment=assignment, user=user)
    report_text = assignment.report.text
    start, end = mention_span_check(report_text, start, end, expected=text)
    key = _key(assignment, key_id)
    if rules_assertion:
        [(negated, uncertain)] = suggestion_flags(assignment=assignment, spans=[(key, start, end)])
    if Mention.objects.filter(assignment=assignment, key=key, start=start, end=end).exists():
        raise ValidationError(f"This span is already marked as {key.name}.")
    mention = Mention.objects.create(
        report_id=assignment.report_id,
        assignment=assignment,
        key=key,
        start=start,
        end=end,
        negated=negated,
        uncertain=uncertain and not negated,
        created_by=user,
    )
    if learn:
        entity_value_learn(
            key=key, surface=report_text[start:end], user=user, modality=assignment.report.modality
        )
    assignment_touch(assignment)
    return mention


@transaction.atomic
def mention_update(
    *,
    mention: Mention,
    user: Any,
    negated: bool | None = None,
    uncertain: bool | None = None,
    key_id: Any = None,
    start: Any = None,
    end: Any = None,
    text: str | None = None,
) -> Mention:
    """Change a mention's flags, key or span. Negated and uncertain exclude each
    other: setting one clears the other. A new span (`start` and `end`, with the
    selected `text` to check the offsets) keeps the mention's pairs: fixing a
    boundary does not change what the mention is."""
    assignment = mention.assignment
    assignment_check_editable(assignment=assignment, user=user)
    if negated is not None:
        mention.negated = negated
        mention.uncertain = mention.uncertain and not negated
    if uncertain is not None:
        mention.uncertain = uncertain
        mention.negated = mention.negated and not uncertain
    new_key = _key(assignment, key_id) if key_id is not None else None
    if new_key is not None and new_key.pk != mention.key_id:
        if Mention.objects.filter(
            assignment=assignment, key=new_key, start=mention.start, end=mention.end
        ).exists():
            raise ValidationError(f"This span is already marked as {new_key.name}.")
        mention.key = new_key
        mention.outgoing.all().delete()  # its pairs belonged to the old key
        mention.incoming.all().delete()
    if (start is None) != (end is None):
        raise ValidationError("Give both start and end to move a mention.")
    if start is not None:
        new_start, new_end = mention_span_check(assignment.report.text, start, end, expected=text)
        if (new_start, new_end) != (mention.start, mention.end):
            if Mention.objects.filter(
                assignment=assignment, key_id=mention.key_id, start=new_start, end=new_end
            ).exists():
                raise ValidationError(f"This span is already marked as {mention.key.name}.")
            mention.start, mention.end = new_start, new_end
            # The corrected text is what the annotator means: learn it like a new span.
            entity_value_learn(
                key=mention.key,
                surface=assignment.report.text[new_start:new_end],
                user=user,
                modality=assignment.report.modality,
            )
    mention.save(update_fields=["negated", "uncertain", "key", "start", "end"])
    assignment_touch(assignment)
    return mention


FLAGS = ("negated", "uncertain")


@transaction.atomic
def mention_flag_toggle(*, mention: Mention, user: Any, flag: str) -> Mention:
    """Flip `flag` (negated or uncertain) of a mention in one UPDATE that reads the
    row's current value, not `mention`'s copy: two tabs toggling at once both count
    (from their stale copies each would write the same value, and one toggle was
    lost). Setting one flag clears the other, as in mention_update."""
    if flag not in FLAGS:
        raise ValidationError("Nothing to change.")
    assignment_check_editable(assignment=mention.assignment, user=user)
    other = "uncertain" if flag == "negated" else "negated"
    # Both right-hand sides see the row before the UPDATE (SQL semantics).
    Mention.objects.filter(pk=mention.pk).update(
        **{
            flag: Case(When(**{flag: True}, then=Value(False)), default=Value(True)),
            other: Case(When(**{flag: True}, then=F(other)), default=Value(False)),
        }
    )
    mention.refresh_from_db(fields=list(FLAGS))
    assignment_touch(mention.assignment)
    return mention


@transaction.atomic
def mention_delete(*, mention: Mention, user: Any) -> None:
    """Delete a mention and the pairs it is part of."""
    assignment_check_editable(assignment=mention.assignment, user=user)
    mention.delete()
    assignment_touch(mention.assignment)


def suggestion_flags(
    *, assignment: Assignment, spans: Sequence[tuple[EntityKey, int, int]]
) -> list[tuple[bool, bool]]:
    """(negated, uncertain) of each suggested (key, start, end) as the site's
    assertion rules read it: what the consistency check ("reads as negated") would
    ask for, so accepting a suggestion never creates an issue by itself. Only
    findings carry an assertion; a location is just where."""
    findings = [i for i, (key, _, _) in enumerate(spans) if key.entity_type.role in FINDING_ROLES]
    flags = [(False, False)] * len(spans)
    if not findings:
        return flags
    detector = site_detector(modality=assignment.report.modality)
    statuses = detector.statuses(assignment.report.text, [spans[i][1:] for i in findings])
    for i, status in zip(findings, statuses, strict=True):
        flags[i] = (status in (NEGATED, HISTORICAL), status == UNCERTAIN)
    return flags


@transaction.atomic
def mentions_accept(
    *, assignment: Assignment, user: Any, spans: Sequence[tuple[int, int, int]]
) -> list[Mention]:
    """Accept suggestions [(key id, start, end)] as mentions, negated or uncertain
    as the assertion rules read them (suggestion_flags); spans already marked with
    the key are skipped. Returns the mentions created."""
    assignment_check_editable(assignment=assignment, user=user)
    existing = set(Mention.objects.filter(assignment=assignment).values_list("key_id", "start", "end"))
    text = assignment.report.text
    wanted: list[tuple[EntityKey, int, int]] = []
    for key_id, start, end in spans:
        key = _key(assignment, key_id)
        span = mention_span_check(text, start, end)
        if (key.pk, *span) in existing:
            continue
        existing.add((key.pk, *span))
        wanted.append((key, *span))
    created = [
        Mention(
            report_id=assignment.report_id,
            assignment=assignment,
            key=key,
            start=start,
            end=end,
            negated=negated,
            uncertain=uncertain,
            created_by=user,
        )
        for (key, start, end), (negated, uncertain) in zip(
            wanted, suggestion_flags(assignment=assignment, spans=wanted), strict=True
        )
    ]
    Mention.objects.bulk_create(created)
    if created:
        assignment_touch(assignment)
    return created


def _pair_target_check(source: EntityKey, target: EntityKey) -> None:
    if source.pairs_with_id is None:
        if source.implicit_location_id is not None:
            raise ValidationError(f"{source.name} is not pair-matched: its location is implicit.")
        raise ValidationError(f"{source.name} takes no pairs.")
    if target.entity_type_id != source.pairs_with_id:
        wanted = source.pairs_with  # loaded only for the message
        assert wanted is not None  # pairs_with_id was checked above
        raise ValidationError(f"{source.name} pairs with a {wanted.name} key, not {target.name}.")


@transaction.atomic
def relation_create(
    *,
    assignment: Assignment,
    user: Any,
    source_mention_id: Any,
    target_mention_id: Any = None,
    target_key_id: Any = None,
) -> Relation:
    """Pair a finding mention with a location/episode mention (or, without a
    span, with a location/episode key)."""
    assignment_check_editable(assignment=assignment, user=user)
    mentions = Mention.objects.select_related("key__pairs_with").filter(assignment=assignment)
    try:
        source = mentions.get(pk=int(source_mention_id))
        target_mention = mentions.get(pk=int(target_mention_id)) if target_mention_id else None
    except (TypeError, ValueError, Mention.DoesNotExist):
        raise ValidationError("Pair two mentions of this report.") from None
    if target_mention is not None:
        target_key = target_mention.key
    elif target_key_id:
        target_key = _key(assignment, target_key_id)
    else:
        raise ValidationError("Choose what to pair the finding with.")
    _pair_target_check(source.key, target_key)
    if Relation.objects.filter(assignment=assignment, source_mention=source, target_key=target_key).exists():
        raise ValidationError(f"{source.key.name} is already paired with {target_key.name} here.")
    try:
        with transaction.atomic():
            relation = Relation.objects.create(
                report_id=assignment.report_id,
                assignment=assignment,
                source_key=source.key,
                target_key=target_key,
                source_mention=source,
                target_mention=target_mention,
                created_by=user,
            )
    except IntegrityError:
        raise ValidationError("That pair exists already.") from None
    assignment_touch(assignment)
    return relation


@transaction.atomic
def relation_delete(*, relation: Relation, user: Any) -> None:
    assignment_check_editable(assignment=relation.assignment, user=user)
    relation.delete()
    assignment_touch(relation.assignment)


@transaction.atomic
def assignment_set_no_findings(*, assignment: Assignment, user: Any, no_findings: bool) -> None:
    assignment_check_editable(assignment=assignment, user=user)
    assignment.no_findings = no_findings
    Assignment.objects.filter(pk=assignment.pk).update(no_findings=no_findings)
    assignment_touch(assignment)


@dataclass(frozen=True)
class SubmitResult:
    submitted: bool
    issues: list[Issue] = field(default_factory=list)


@transaction.atomic
def assignment_submit(*, assignment: Assignment, user: Any, force: bool = False) -> SubmitResult:
    """Submit, unless the consistency checks find something and `force` is off:
    then nothing changes and the issues come back for the annotator to confirm."""
    assignment_check_editable(assignment=assignment, user=user)
    issues = assignment_issues(assignment=assignment, before_submit=True)
    if issues and not force:
        return SubmitResult(submitted=False, issues=issues)
    assignment.status = Assignment.Status.SUBMITTED
    assignment.submitted_at = timezone.now()
    assignment.save(update_fields=["status", "submitted_at", "updated_at"])
    return SubmitResult(submitted=True, issues=issues)


@transaction.atomic
def assignment_reopen(*, assignment: Assignment, user: Any) -> None:
    """Take a submitted annotation back into work, unless an admin has already
    adjudicated the report (the adjudication would silently go stale)."""
    if not can_edit_assignment(user, assignment):
        raise PermissionDenied("You cannot edit this assignment.")
    if assignment.status != Assignment.Status.SUBMITTED:
        raise ValidationError("Only a submitted report can be reopened.")
    adjudicated = Assignment.objects.filter(
        report_id=assignment.report_id, kind=Assignment.Kind.ADJUDICATION, status=Assignment.Status.SUBMITTED
    )
    if assignment.kind == Assignment.Kind.ANNOTATION and adjudicated.exists():
        raise ValidationError("This report has been adjudicated; ask an admin to change the gold version.")
    assignment.status = Assignment.Status.IN_PROGRESS
    assignment.submitted_at = None
    assignment.save(update_fields=["status", "submitted_at", "updated_at"])

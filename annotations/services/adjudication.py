"""Adjudication: an admin turns two annotators' versions of a report into the
gold version, an Assignment of kind ADJUDICATION (submitted), by picking one
version or merging chosen mentions and pairs of both.

There is at most one adjudication per report: adjudicating again replaces it.
Selector report_gold_assignment prefers it over everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from annotations.models import Assignment, Mention, Relation, Report
from annotations.permissions import PERM_ADJUDICATE
from radreview.conflict import CONFLICT


def adjudication_versions(*, report: Report) -> list[Assignment]:
    """The submitted annotations of a report, oldest first."""
    return list(
        report.assignments.filter(kind=Assignment.Kind.ANNOTATION, status=Assignment.Status.SUBMITTED)
        .select_related("annotator")
        .order_by("created_at", "id")
    )


@transaction.atomic
def adjudication_create(
    *,
    report: Report,
    user: Any,
    mention_ids: Iterable[int],
    relation_ids: Iterable[int],
    no_findings: bool,
) -> Assignment:
    """Make the gold version of `report` from the chosen mentions and pairs of its
    submitted annotations. A chosen pair brings its mentions along; the same span
    with the same key chosen from both versions is kept once (the first chosen)."""
    if not user.has_perm(PERM_ADJUDICATE):
        raise PermissionDenied("Only admins adjudicate.")
    versions = adjudication_versions(report=report)
    if len(versions) < 2:
        raise ValidationError("Adjudication needs two submitted annotations of the report.", code=CONFLICT)
    source_ids = [v.pk for v in versions]
    relations = list(Relation.objects.filter(assignment_id__in=source_ids, pk__in=list(relation_ids)))
    wanted = (
        set(mention_ids) | {r.source_mention_id for r in relations} | {r.target_mention_id for r in relations}
    )
    mentions = list(
        Mention.objects.filter(assignment_id__in=source_ids, pk__in=[m for m in wanted if m]).order_by(
            "assignment__created_at", "assignment_id", "start", "end", "id"
        )
    )
    Assignment.objects.filter(report=report, kind=Assignment.Kind.ADJUDICATION).delete()
    gold = Assignment.objects.create(
        report=report,
        annotator=user,
        assigned_by=user,
        kind=Assignment.Kind.ADJUDICATION,
        status=Assignment.Status.SUBMITTED,
        submitted_at=timezone.now(),
        no_findings=no_findings,
    )
    copies: dict[int, Mention] = {}
    by_span: dict[tuple[int, int, int], Mention] = {}
    for m in mentions:
        span = (m.key_id, m.start, m.end)
        if span not in by_span:
            by_span[span] = Mention.objects.create(
                report=report,
                assignment=gold,
                key_id=m.key_id,
                start=m.start,
                end=m.end,
                negated=m.negated,
                uncertain=m.uncertain,
                created_by_id=m.created_by_id,
            )
        copies[m.pk] = by_span[span]
    seen: set[tuple[Any, ...]] = set()
    for r in relations:
        source = copies.get(r.source_mention_id) if r.source_mention_id else None
        ident = (source.pk if source else None, r.source_key_id, r.target_key_id)
        if ident in seen:
            continue
        seen.add(ident)
        Relation.objects.create(
            report=report,
            assignment=gold,
            source_key_id=r.source_key_id,
            target_key_id=r.target_key_id,
            source_mention=source,
            target_mention=copies.get(r.target_mention_id) if r.target_mention_id else None,
            created_by=user,
        )
    return gold


def adjudication_pick(*, report: Report, user: Any, assignment: Assignment) -> Assignment:
    """Take one annotator's version as gold, unchanged."""
    if assignment.report_id != report.pk:
        raise ValidationError("That version belongs to another report.")
    return adjudication_create(
        report=report,
        user=user,
        mention_ids=assignment.mentions.values_list("id", flat=True),
        relation_ids=assignment.relations.values_list("id", flat=True),
        no_findings=assignment.no_findings,
    )


@dataclass(frozen=True)
class VersionDifferences:
    """Ids of what one of two versions has and the other has not."""

    only_mentions: frozenset[int]  # no mention with the same key and span in the other
    only_relations: frozenset[int]  # no pair with the same keys from the same span in the other
    flags_differ: frozenset[int]  # same key and span in both, other negated/uncertain flags


def adjudication_differences(*, versions: Sequence[Assignment]) -> VersionDifferences:
    """Where two versions of a report disagree (empty unless there are exactly two)."""
    if len(versions) != 2:
        return VersionDifferences(frozenset(), frozenset(), frozenset())
    ids = [v.pk for v in versions]
    mentions = list(
        Mention.objects.filter(assignment_id__in=ids).values_list(
            "id", "assignment_id", "key_id", "start", "end", "negated", "uncertain"
        )
    )
    spans = {m[0]: (m[2], m[3], m[4]) for m in mentions}
    relations = list(
        Relation.objects.filter(assignment_id__in=ids).values_list(
            "id", "assignment_id", "source_key_id", "target_key_id", "source_mention_id"
        )
    )

    def one_sided(rows: list[tuple[int, int, tuple[Any, ...]]]) -> set[int]:
        """Ids whose signature the other version lacks. rows: (id, assignment id, signature)."""
        by_version = {pk: {sig for _, a, sig in rows if a == pk} for pk in ids}
        return {row_id for row_id, a, sig in rows if sig not in by_version[ids[1] if a == ids[0] else ids[0]]}

    only_mentions = one_sided([(m[0], m[1], spans[m[0]]) for m in mentions])
    with_flags = one_sided([(m[0], m[1], (*spans[m[0]], m[5], m[6])) for m in mentions])
    only_relations = one_sided([(r[0], r[1], (r[2], r[3], spans.get(r[4]))) for r in relations])
    return VersionDifferences(
        only_mentions=frozenset(only_mentions),
        only_relations=frozenset(only_relations),
        flags_differ=frozenset(with_flags - only_mentions),
    )

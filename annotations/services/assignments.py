"""Assigning reports to annotators (admins): a batch of ids, a random sample of N,
or the reports matching a search; one annotator, or two for double annotation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from annotations.models import Assignment, Modality, Report
from annotations.services.queue_order import RANDOM, queue_ranks
from radreview.conflict import CONFLICT
from radreview.roles import PERM_ANNOTATE

BATCH, SAMPLE, SEARCH = "batch", "sample", "search"
HOW = {
    BATCH: "A batch of report ids",
    SAMPLE: "A random sample of N reports",
    SEARCH: "Reports whose text contains…",
}
MAX_PER_REQUEST = 5000


@dataclass(frozen=True)
class AssignResult:
    reports: int
    created: int
    skipped: int  # already assigned to that annotator


def assignment_report_ids(
    *,
    modality: Modality,
    how: str,
    external_ids: Sequence[str] = (),
    n: int | None = None,
    query: str = "",
    only_unassigned: bool = True,
    seed: int | None = None,
) -> list[int]:
    """The reports an assign request means, as ids. ValidationError names what is wrong."""
    reports = Report.objects.current().filter(modality=modality)  # never a superseded revision
    if only_unassigned:
        reports = reports.filter(~Exists(Assignment.objects.filter(report=OuterRef("pk"))))
    if how == BATCH:
        wanted = list(dict.fromkeys(i.strip() for i in external_ids if i.strip()))
        if not wanted:
            raise ValidationError({"external_ids": "List at least one report id."})
        found = dict(reports.filter(external_id__in=wanted).values_list("external_id", "id"))
        missing = [i for i in wanted if i not in found]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            why = " (or already assigned)" if only_unassigned else ""
            raise ValidationError({"external_ids": f"No {modality.name} report{why} with id {shown}."})
        return [found[i] for i in wanted][:MAX_PER_REQUEST]
    if how == SAMPLE:
        if not n or n < 1:
            raise ValidationError({"n": "Enter how many reports to sample."})
        ids = list(reports.values_list("id", flat=True))
        rng = random.Random(seed)  # noqa: S311 - sampling, not a secret
        return sorted(rng.sample(ids, min(n, len(ids), MAX_PER_REQUEST)))
    if how == SEARCH:
        if not query.strip():
            raise ValidationError({"query": "Enter the text to search for."})
        rows = reports.filter(text__icontains=query.strip()).order_by("id").values_list("id", flat=True)
        return list(rows[: min(n or MAX_PER_REQUEST, MAX_PER_REQUEST)])
    raise ValidationError({"how": "Choose how to pick the reports."})


def _check_annotators(annotators: Sequence[Any]) -> None:
    if not 1 <= len(annotators) <= 2 or len({a.pk for a in annotators}) != len(annotators):
        raise ValidationError(
            {"annotators": "Choose one annotator, or two different ones for double annotation."}
        )
    for annotator in annotators:
        if not annotator.is_active or not annotator.has_perm(PERM_ANNOTATE):
            raise ValidationError({"annotators": f"{annotator.get_username()} is not an active annotator."})


@transaction.atomic
def assignments_create(
    *,
    report_ids: Sequence[int],
    annotators: Sequence[Any],
    assigned_by: Any,
    order: str = RANDOM,
    seed: int | None = None,
) -> AssignResult:
    """Assign every report to every annotator (an annotator who has the report
    already keeps it), ranked in the queue by `order`."""
    _check_annotators(annotators)
    ids = list(dict.fromkeys(report_ids))
    if not ids:
        raise ValidationError("No reports matched; nothing was assigned.", code=CONFLICT)
    ranks = queue_ranks(report_ids=ids, order=order, seed=seed)
    existing = set(
        Assignment.objects.filter(
            report_id__in=ids, annotator__in=annotators, kind=Assignment.Kind.ANNOTATION
        ).values_list("report_id", "annotator_id")
    )
    rows = [
        Assignment(report_id=report_id, annotator=annotator, assigned_by=assigned_by, rank=ranks[report_id])
        for report_id in ids
        for annotator in annotators
        if (report_id, annotator.pk) not in existing
    ]
    Assignment.objects.bulk_create(rows, batch_size=1000)
    return AssignResult(reports=len(ids), created=len(rows), skipped=len(ids) * len(annotators) - len(rows))


@transaction.atomic
def assignment_unassign(*, assignment: Assignment) -> None:
    """Take back an assignment nobody has started."""
    if assignment.kind != Assignment.Kind.ANNOTATION or assignment.status != Assignment.Status.TODO:
        raise ValidationError("Only an assignment still to do can be taken back.", code=CONFLICT)
    if assignment.mentions.exists():
        raise ValidationError("The annotator has started this report.")
    assignment.delete()


@transaction.atomic
def assignments_take_back(*, annotator: Any, modality: Modality | None = None) -> int:
    """Take back every assignment of `annotator` (of one modality, or all) that is
    still to do and has no mention; started work stays. Returns how many."""
    rows = Assignment.objects.filter(
        annotator=annotator,
        kind=Assignment.Kind.ANNOTATION,
        status=Assignment.Status.TODO,
        mentions__isnull=True,
    )
    if modality is not None:
        rows = rows.filter(report__modality=modality)
    ids = list(rows.values_list("id", flat=True))
    Assignment.objects.filter(pk__in=ids).delete()
    return len(ids)

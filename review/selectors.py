"""Reads of the review app: the clinicians' queue, a report's findings, history, timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from annotations.models import Modality, Report
from inference.models import ModelVersion
from radreview.bounds import bounded_int
from review import models as review_models
from review.models import ReviewDecision, ReviewFinding, ReviewReport

OPEN = review_models.OPEN
SORTS = {
    "priority": ("-priority", "id"),
    "date": ("-study_datetime", "id"),
    "oldest": ("study_datetime", "id"),
}


@dataclass
class QueueFilters:
    status: str = "open"  # "open" = pending + in progress; "" = all; or one status
    modality: str = ""
    model_version: int | None = None
    patient: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    finding: str = ""
    sort: str = "priority"

    @classmethod
    def from_query(cls, query: Any) -> tuple[QueueFilters, list[str]]:
        """Filters from GET parameters; bad values are dropped with a message each."""
        errors: list[str] = []
        f = cls(
            status=query.get("status", "open").strip(),
            modality=query.get("modality", "").strip(),
            patient=query.get("patient", "").strip()[:100],
            finding=query.get("finding", "").strip()[:100],
            sort=query.get("sort", "priority").strip(),
        )
        if f.status not in ("", "open", *ReviewReport.Status.values):
            errors.append(f"Unknown status “{f.status}”.")
            f.status = "open"
        if f.sort not in SORTS:
            errors.append(f"Unknown sort “{f.sort}”.")
            f.sort = "priority"
        mv = query.get("model_version", "").strip()
        if mv:
            try:
                f.model_version = bounded_int(mv, name="Model version")
            except ValueError as exc:
                errors.append(str(exc))
        for name in ("date_from", "date_to"):
            raw = query.get(name, "").strip()
            if raw:
                try:
                    setattr(f, name, dt.date.fromisoformat(raw))
                except ValueError:
                    errors.append(f"{name.replace('_', ' ').capitalize()} must be a date (YYYY-MM-DD).")
        return f, errors


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the site's time zone: a range on the indexed column
    instead of `__date`, which would wrap the column in a function."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _filtered(f: QueueFilters, *, with_status: bool) -> QuerySet[ReviewReport]:
    rows = ReviewReport.objects.all()
    if with_status:
        if f.status == "open":
            rows = rows.filter(status__in=OPEN)
        elif f.status:
            rows = rows.filter(status=f.status)
    if f.modality:
        # A subquery (an InitPlan in PostgreSQL), not a join: the modality id is then a
        # constant the partial queue index can use.
        code = Modality.objects.filter(code=f.modality).values("id")[:1]
        rows = rows.filter(modality_id=Subquery(code))
    if f.model_version:
        rows = rows.filter(model_version_id=f.model_version)
    if f.patient:
        rows = rows.filter(patient_id=f.patient)
    if f.date_from:
        rows = rows.filter(study_datetime__gte=_day_start(f.date_from))
    if f.date_to:
        rows = rows.filter(study_datetime__lt=_day_start(f.date_to + dt.timedelta(days=1)))
    if f.finding:
        has = ReviewFinding.objects.filter(review=OuterRef("pk"), key=f.finding, superseded=False)
        rows = rows.filter(Exists(has))
    return rows


def review_queue(
    *, filters: QueueFilters, offset: int = 0, limit: int = 50
) -> tuple[list[ReviewReport], bool]:
    """One page of the queue and whether there is a next one (no COUNT over the whole table)."""
    rows = (
        _filtered(filters, with_status=True)
        .select_related("report__modality", "model_version", "lease_user")
        .defer("report__text")
        .order_by(*SORTS[filters.sort])
    )
    page = list(rows[offset : offset + limit + 1])
    return page[:limit], len(page) > limit


def review_status_counts(*, filters: QueueFilters) -> list[tuple[str, str, int]]:
    """(status, label, reports) under every filter but the status one."""
    counts = dict(
        _filtered(filters, with_status=False)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [(value, label, counts.get(value, 0)) for value, label in ReviewReport.Status.choices]


def queue_choices() -> dict[str, Any]:
    return {
        "modalities": list(Modality.objects.all()),
        "model_versions": list(
            ModelVersion.objects.select_related("modality").only("id", "name", "modality")
        ),
        "statuses": ReviewReport.Status.choices,
    }


def next_in_queue(*, user: Any, after: ReviewReport) -> ReviewReport | None:
    """The open report to open after `after`: same modality, highest priority,
    not leased by someone else."""
    free = Q(lease_user__isnull=True) | Q(lease_user=user) | Q(lease_until__lte=timezone.now())
    # modality_id=None would read as "IS NULL" too; spelt out for a row without one.
    same_modality = (
        Q(modality__isnull=True) if after.modality_id is None else Q(modality_id=after.modality_id)
    )
    return (
        ReviewReport.objects.filter(free, same_modality, status__in=OPEN)
        .exclude(pk=after.pk)
        .order_by("-priority", "id")
        .only("id", "report_id")
        .first()
    )


def review_for_report(*, report_id: int) -> ReviewReport | None:
    return (
        ReviewReport.objects.select_related("report__modality", "model_version", "lease_user", "verified_by")
        .filter(report_id=report_id)
        .first()
    )


def review_findings(*, review: ReviewReport) -> list[ReviewFinding]:
    return list(
        review.findings.filter(superseded=False).select_related("decided_by").order_by("kind", "key", "id")
    )


def report_history(*, report_id: int) -> QuerySet[ReviewDecision]:
    return ReviewDecision.objects.filter(report_id=report_id).select_related("user", "finding").order_by("id")


def patient_timeline(*, report: Report, limit: int = 20) -> list[Report]:
    """The patient's other reports of the same modality, newest first."""
    return list(
        Report.objects.filter(patient_id=report.patient_id, modality_id=report.modality_id)
        .exclude(pk=report.pk)
        .only("id", "external_id", "study_datetime", "title", "patient_id", "modality_id")
        .order_by("-study_datetime", "-id")[:limit]
    )

"""Reads for the annotations app (writes live in services/)."""

from __future__ import annotations

from django.db.models import QuerySet

from annotations.models import Assignment, Mention, Report


def report_list(*, modality: str = "", source: str = "", patient_id: str = "") -> QuerySet[Report]:
    reports = Report.objects.select_related("modality").defer("text")
    if modality:
        reports = reports.filter(modality__code=modality)
    if source:
        reports = reports.filter(source=source)
    if patient_id:
        reports = reports.filter(patient_id=patient_id)
    return reports.order_by("-study_datetime", "-id")


def report_gold_assignment(*, report: Report) -> Assignment | None:
    """The version of a report that counts as gold: an adjudication if there is
    one, else imported gold, else the only submitted annotation."""
    submitted = list(report.assignments.filter(status=Assignment.Status.SUBMITTED).order_by("created_at"))
    for kind in (Assignment.Kind.ADJUDICATION, Assignment.Kind.IMPORTED):
        for assignment in submitted:
            if assignment.kind == kind:
                return assignment
    annotations = [a for a in submitted if a.kind == Assignment.Kind.ANNOTATION]
    return annotations[0] if len(annotations) == 1 else None


def assignment_mentions(*, assignment: Assignment) -> QuerySet[Mention]:
    return assignment.mentions.select_related("key__entity_type").order_by("start", "end")

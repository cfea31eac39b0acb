"""Report revisions (issue 16). A report's text is fixed at import: mentions are
offsets into it, and content_hash and every prediction describe it. A corrected
report is therefore a new Report row (same source, external id and study) whose
`revision_of` is the old one; the old one keeps its text, mentions, predictions and
review decisions, is marked `superseded_at`, and its pages say so. Its assignments
become read-only (services.annotation); new work goes to the new revision: each
annotator who had the old one is assigned the new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from annotations.models import Assignment, Report

# Sent inside the transaction that supersedes reports (sender=Report, report_ids=[...]):
# apps that keep work on a report (the review queue) set it aside.
reports_superseded = Signal()


def report_content_hash(text: str) -> str:
    """Report.content_hash: sha256 of the UTF-8 text (as the import computes it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def report_revise(*, report: Report, new_text: str, user: Any, reason: str) -> Report:
    """Store `new_text` as a new revision of `report` and supersede it. The caller
    checks the user may (PERM_IMPORT); ValidationError says what is wrong."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required: say what the correction is.")
    if not new_text.strip():
        raise ValidationError("The corrected text is empty.")
    with transaction.atomic():
        old = Report.objects.select_for_update().get(pk=report.pk)
        if old.superseded_at is not None:
            raise ValidationError("This report was already corrected: revise its latest revision.")
        if new_text == old.text:
            raise ValidationError("The text is unchanged: nothing to revise.")
        new = revision_build(old, text=new_text, user=user, reason=reason)
        report_revisions_store([(old, new)])
        _assignments_carry(old, new, user=user)
    report.superseded_at = old.superseded_at
    return new


def revision_build(old: Report, *, text: str, user: Any = None, reason: str = "", **fields: Any) -> Report:
    """An unsaved revision of `old` with `text`: the old one's fields unless given."""
    values = {
        "source": old.source,
        "external_id": old.external_id,
        "patient_id": old.patient_id,
        "study_datetime": old.study_datetime,
        "modality_id": old.modality_id,
        "title": old.title,
        "import_job_id": None,
        **fields,
    }
    return Report(
        **values,
        text=text,
        content_hash=report_content_hash(text),
        revision_of_id=old.pk,
        revised_by=user,
        revision_reason=reason,
    )


def report_revisions_store(pairs: Sequence[tuple[Report, Report]]) -> None:
    """Supersede each old report, then insert its new revision (in this order: one
    current revision per external id is a database constraint). Call inside a
    transaction, the old rows locked or freshly read."""
    if not pairs:
        return
    now = timezone.now()
    Report.objects.filter(pk__in=[old.pk for old, _new in pairs]).update(superseded_at=now, updated_at=now)
    for old, new in pairs:
        old.superseded_at = now
        new.revision_of_id = old.pk
    Report.objects.bulk_create([new for _old, new in pairs])
    reports_superseded.send(sender=Report, report_ids=[old.pk for old, _new in pairs])


def _assignments_carry(old: Report, new: Report, *, user: Any) -> int:
    """Each annotator of the old revision gets the new one, in the same queue position."""
    mine = Assignment.objects.filter(report=old, kind=Assignment.Kind.ANNOTATION)
    carried = [
        Assignment(report=new, annotator_id=a.annotator_id, assigned_by=user, rank=a.rank) for a in mine
    ]
    return len(Assignment.objects.bulk_create(carried))

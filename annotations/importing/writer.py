"""Writing one checked batch of rows: the part of the import that touches the
database. The caller holds the transaction (one for the whole file).

Per batch: one query for the reports that already have these ids, one for the
reports that already have these texts, then bulk_create / bulk_update.

A report's text is never changed in place (issue 16): under on_duplicate="update"
a row whose text differs from the stored report's is stored as a new revision of
it (services.revisions), which supersedes the old one and keeps its mentions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Max, Min
from django.utils import timezone

from annotations.importing.validation import ValidRow
from annotations.models import Report
from annotations.services.revisions import report_revisions_store, revision_build

# Fields compared for on_duplicate="update", and written when they differ.
COMPARED = ("patient_id", "study_datetime", "modality_id", "title", "content_hash")
# Written in place when only these differ (the text never is: a new text is a revision).
UPDATED = ["patient_id", "study_datetime", "modality", "title", "import_job", "updated_at"]


@dataclass(frozen=True, slots=True)
class ContentDuplicate:
    """A row imported although another report already has the same text."""

    line: int
    external_id: str
    same_as: str  # "source:external_id" of that report, or "line N" of this file


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    content_duplicates: int = 0
    listed: list[ContentDuplicate] = field(default_factory=list)  # at most `list_room` of them


def batch_write(
    *, batch: list[ValidRow], source: str, on_duplicate: str, job_id: int | None, list_room: int
) -> BatchOutcome:
    """Create the new rows; skip or update (unless unchanged) those whose
    (source, external id) exists. Count rows whose text another report has."""
    existing = _existing(source, batch)
    holders = _hash_holders({row.content_hash for row in batch})
    outcome = BatchOutcome()
    new: list[Report] = []
    changed: list[Report] = []
    revised: list[tuple[Report, Report]] = []  # (stored report, its new revision)
    written: list[tuple[ValidRow, int | None]] = []  # (row, pk of the report it updates)
    for row in batch:
        old = existing.get(row.external_id)
        if old is None:
            new.append(_report_new(row, source=source, job_id=job_id))
            written.append((row, None))
        elif on_duplicate == "skip":
            outcome.skipped += 1
        elif all(getattr(old, name) == getattr(row, name) for name in COMPARED):
            outcome.unchanged += 1
        elif old.content_hash != row.content_hash:
            revised.append((old, _revision_new(old, row, job_id=job_id)))
            written.append((row, old.pk))
        else:
            changed.append(_report_assign(old, row, job_id=job_id))
            written.append((row, old.pk))
    Report.objects.bulk_create(new)
    Report.objects.bulk_update(changed, UPDATED)
    report_revisions_store(revised)
    outcome.created, outcome.updated = len(new), len(changed) + len(revised)
    _note_content_duplicates(written, holders, outcome, list_room=list_room)
    return outcome


def _existing(source: str, batch: list[ValidRow]) -> dict[str, Report]:
    ids = [row.external_id for row in batch]
    reports = Report.objects.current().filter(source=source, external_id__in=ids).order_by()
    return {r.external_id: r for r in reports.only("source", "external_id", *COMPARED)}


def _hash_holders(hashes: set[str]) -> dict[str, tuple[int, int]]:
    """Lowest and highest pk of the reports holding each hash: one row per hash
    however common the text, and enough to tell whether a report other than a
    given one holds it. Earlier batches of the file are already in the table."""
    rows = (
        Report.objects.filter(content_hash__in=hashes)
        .order_by()
        .values("content_hash")
        .annotate(lo=Min("pk"), hi=Max("pk"))
    )
    return {r["content_hash"]: (r["lo"], r["hi"]) for r in rows}


def _note_content_duplicates(
    written: list[tuple[ValidRow, int | None]],
    holders: dict[str, tuple[int, int]],
    outcome: BatchOutcome,
    *,
    list_room: int,
) -> None:
    """Written rows whose text another report already has, in the database or
    earlier in this batch."""
    first_line: dict[str, int] = {}
    found: list[tuple[ValidRow, int | None, int | None]] = []  # (row, pk of the other, line of the other)
    for row, own_pk in written:
        others = set(holders.get(row.content_hash, ())) - {own_pk}
        if others:
            found.append((row, min(others), None))
        elif row.content_hash in first_line:
            found.append((row, None, first_line[row.content_hash]))
        first_line.setdefault(row.content_hash, row.line)
    outcome.content_duplicates = len(found)
    listed = found[: max(list_room, 0)]
    names = _report_names({pk for _row, pk, _line in listed if pk is not None})
    outcome.listed = [
        ContentDuplicate(row.line, row.external_id, names[pk] if pk is not None else f"line {line}")
        for row, pk, line in listed
    ]


def _report_names(pks: set[int]) -> dict[int, str]:
    if not pks:
        return {}
    rows = Report.objects.filter(pk__in=pks).order_by().values_list("pk", "source", "external_id")
    return {pk: f"{source}:{external_id}" for pk, source, external_id in rows}


def _report_new(row: ValidRow, *, source: str, job_id: int | None) -> Report:
    return Report(
        source=source,
        external_id=row.external_id,
        patient_id=row.patient_id,
        study_datetime=row.study_datetime,
        modality_id=row.modality_id,
        title=row.title,
        text=row.text,
        content_hash=row.content_hash,
        import_job_id=job_id,
    )


def _revision_new(old: Report, row: ValidRow, *, job_id: int | None) -> Report:
    reason = (
        f"re-imported with a changed text (job #{job_id})" if job_id else "re-imported with a changed text"
    )
    return revision_build(
        old,
        text=row.text,
        reason=reason,
        patient_id=row.patient_id,
        study_datetime=row.study_datetime,
        modality_id=row.modality_id,
        title=row.title,
        import_job_id=job_id,
    )


def _report_assign(report: Report, row: ValidRow, *, job_id: int | None) -> Report:
    report.patient_id = row.patient_id
    report.study_datetime = row.study_datetime
    report.modality_id = row.modality_id
    report.title = row.title
    report.import_job_id = job_id
    report.updated_at = timezone.now()  # bulk_update does not apply auto_now
    return report

"""Bring your labels: labels a site already has, for reports already imported, stored as
imported gold (an Assignment of kind IMPORTED per report, with its label source), so
stage 1 trains and evaluations score on them without annotating again.

Two formats, matched to reports by the reports' source and external id:

* jsonl: the gold-file format (docs/gold-files.md): "id", "gold" (report-level keys
  with status; locations / episode), optionally "mentions" and "pairs"; "modality" and
  "text", when given, must be the stored report's. Lines are checked by the gold
  loader's own functions (services.gold), so both read the format alike.
* csv: a header row with "id" and one column per finding key (its name), each cell 0 or
  1; an optional "modality" column is checked against the report. 1 is present; 0 is
  absent, not negated: a 0/1 table does not say the report denies the finding.

All or nothing, like the report import: a first pass checks every line and collects
the problems (line, field, message; never report text), a second pass checks again and
writes everything in one transaction. A re-import replaces each report's earlier
imported gold (anyone's), so importing a corrected file never duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from annotations.importing.problems import FileProblem, ImportProblem, ProblemList
from annotations.importing.readers import (
    SNIFF_BYTES,
    CsvRecords,
    JsonlRecords,
    Record,
    container_for,
    head_problem,
    records_open,
)
from annotations.models import EntityType, Report
from annotations.services import gold
from annotations.services.importing import UPLOAD_SUFFIXES, import_upload_save
from jobs.models import Job
from jobs.services import JobCancelled, job_cancel_requested, job_create, job_progress

logger = logging.getLogger(__name__)

FORMATS = ("auto", "jsonl", "csv")

MAX_LABEL_SOURCE = 200  # Assignment.label_source
CSV_ID, CSV_MODALITY = "id", "modality"
CSV_VALUES = {"1": "present", "0": None}
LABEL_KEY_ROLES = (EntityType.Role.FINDING, EntityType.Role.DETAIL)  # report-level keys


class LabelImportRefused(Exception):
    """The file had problems, so nothing was stored; the job's result lists them."""


@dataclass
class LabelImportResult:
    ok: bool
    fmt: str
    rows: int = 0
    reports: int = 0  # imported gold versions written
    replaced: int = 0  # earlier imported gold versions of those reports, replaced
    mentions: int = 0
    relations: int = 0
    no_findings: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    problems_omitted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line without PHI."""
        if not self.ok:
            count = len(self.problems) + self.problems_omitted
            return f"{self.fmt}: nothing stored: {count} problem(s) in {self.rows} line(s)"
        return (
            f"{self.fmt}: {self.reports} report(s) labelled ({self.replaced} replaced), "
            f"{self.mentions} mention(s), {self.relations} pair(s), {self.no_findings} without findings"
        )


@dataclass(frozen=True)
class _Plan:
    path: Path
    fmt: str  # "jsonl" | "csv"
    source: str
    label_source: str
    job_id: int | None


def labels_import(
    *,
    path: Path,
    source: str,
    label_source: str,
    user: Any,
    fmt: str = "auto",
    job_id: int | None = None,
) -> LabelImportResult:
    """Store every line of the label file at `path` as imported gold by `user`, or none.
    Returns ok=False with the problems (nothing stored); ValueError for bad arguments;
    JobCancelled when the job was cancelled (nothing stored either)."""
    plan = _plan(path, fmt, source, label_source, job_id)
    problems = ProblemList()
    rows = _check_pass(plan, problems)
    result = LabelImportResult(ok=not problems, fmt=plan.fmt, rows=rows)
    result.problems, result.problems_omitted = problems.items, problems.omitted
    if result.ok:
        _write_pass(plan, result, user=user)
    logger.info("label import for %r by user %s: %s", source, getattr(user, "pk", None), result.summary())
    return result


def _plan(path: Path, fmt: str, source: str, label_source: str, job_id: int | None) -> _Plan:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not source.strip():
        raise ValueError("source must name the system the reports were imported from")
    label_source = label_source.strip() or path.name
    if len(label_source) > MAX_LABEL_SOURCE:
        raise ValueError(f"the label source must be at most {MAX_LABEL_SOURCE} characters")
    container = fmt if fmt != "auto" else container_for(path)
    return _Plan(path, container, source.strip(), label_source, job_id)


# -- the two passes ----------------------------------------------------------------------


def _check_pass(plan: _Plan, problems: ProblemList) -> int:
    """Check every line; add the problems; return how many label lines the file has."""
    rows = 0
    try:
        for batch in _checked_batches(plan, problems):
            rows += len(batch)
            _progress(plan, f"Checking: {rows:,} lines", done=rows)
    except FileProblem as exc:
        problems.add(exc.problem)
        return rows
    if rows == 0 and not problems:
        problems.add(ImportProblem(line=1, field="file", message="the file has no labels"))
    return rows


def _write_pass(plan: _Plan, result: LabelImportResult, *, user: Any) -> None:
    """Check again and write, all in one transaction (call after a clean check pass)."""
    _progress(plan, f"Writing labels of {result.rows:,} reports")
    problems = ProblemList()
    submitted_at = timezone.now()
    with transaction.atomic():
        for batch in _checked_batches(plan, problems):
            if plan.job_id is not None and job_cancel_requested(job_id=plan.job_id):
                raise JobCancelled
            counts = gold.batch_write(
                batch,
                annotator=user,
                submitted_at=submitted_at,
                label_source=plan.label_source,
                import_job_id=plan.job_id,
                replace_any=True,
            )
            result.reports += counts[0]
            result.replaced += counts[1]
            result.mentions += counts[2]
            result.relations += counts[3]
            result.no_findings += counts[4]
        if problems:  # the file or the reports changed since the check pass
            raise RuntimeError("the labels or their reports changed during the import; nothing was stored")


def _progress(plan: _Plan, message: str, *, done: int = 0) -> None:
    """Progress in lines (raises JobCancelled when the job was cancelled)."""
    if plan.job_id is not None:
        job_progress(job_id=plan.job_id, done=done, message=message)


def _checked_batches(plan: _Plan, problems: ProblemList) -> Iterator[list[gold._GoldLine]]:
    """The file's lines, checked, in batches; each bad line adds a problem instead."""
    keys = gold.keys_by_modality()
    seen: dict[str, int] = {}
    max_line_bytes = settings.REPORT_MAX_CHARS * 12 + 64 * 1024  # a line may quote the report
    with records_open(path=plan.path, container=plan.fmt, max_line_bytes=max_line_bytes) as records:
        csv_check = (
            _CsvChecker(records.columns, records.header_line, keys)
            if isinstance(records, CsvRecords)
            else None
        )
        for batch in _batches(records, problems, gold.BATCH_LINES):
            reports = gold.reports_for([(r.line, r.fields) for r in batch], source=plan.source)
            checked = []
            for record in batch:
                try:
                    if csv_check is None:
                        line = _jsonl_line(record, reports, keys, seen, plan.source)
                    else:
                        line = csv_check(record, reports, seen, plan.source)
                except gold.GoldLineError as exc:
                    problems.add(ImportProblem(line=exc.line, field=exc.field, message=exc.message))
                else:
                    checked.append(line)
            yield checked


def _batches(records: CsvRecords | JsonlRecords, problems: ProblemList, size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for item in records:
        if isinstance(item, ImportProblem):
            problems.add(item)
            continue
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- JSONL: the gold-file format -----------------------------------------------------------


def _jsonl_line(
    record: Record,
    reports: dict[str, Report],
    keys: dict[str, dict[str, Any]],
    seen: dict[str, int],
    source: str,
) -> gold._GoldLine:
    fields = record.fields
    if "gold" not in fields and "mentions" not in fields:
        raise gold.GoldLineError(
            record.line, 'needs "gold" (the report-level labels) or "mentions" (docs/gold-files.md)'
        )
    if "gold" in fields and not isinstance(fields["gold"], dict):
        raise gold.GoldLineError(record.line, '"gold" must be an object (docs/gold-files.md)')
    return gold.line_check(record.line, fields, reports, keys, seen, source)


# -- CSV: one column per key, 0/1 ----------------------------------------------------------


class _CsvChecker:
    """Checks the header once (every column a report-level key of some modality, or id /
    modality) and then each row against its report's modality."""

    def __init__(self, columns: list[str] | None, header_line: int, keys: dict[str, dict[str, Any]]) -> None:
        if columns is None:
            raise FileProblem(line=1, field="file", message="the file has no labels")
        label_keys = {
            name.lower(): (modality, info.id)
            for modality, schema in keys.items()
            for name, info in schema.items()
            if info.role in LABEL_KEY_ROLES
        }
        others = {name.lower() for schema in keys.values() for name in schema}
        if CSV_ID not in columns:
            message = f'missing the report identifier column "{CSV_ID}" (the reports\' external ids)'
            raise FileProblem(line=header_line, field="header", message=message)
        key_columns = [c for c in columns if c not in (CSV_ID, CSV_MODALITY)]
        unknown = [c for c in key_columns if c not in label_keys]
        if unknown:
            located = [c for c in unknown if c in others]
            message = f"unknown key column(s): {', '.join(unknown[:20])}"
            if located:
                message += (
                    f" ({', '.join(located[:20])}: location / episode keys are not report-level labels)"
                )
            raise FileProblem(line=header_line, field="header", message=message)
        if not key_columns:
            raise FileProblem(
                line=header_line, field="header", message="no key columns: one column per key, 0 or 1"
            )
        self.columns = {c: label_keys[c] for c in key_columns}  # column -> (modality, key id)

    def __call__(
        self, record: Record, reports: dict[str, Report], seen: dict[str, int], source: str
    ) -> gold._GoldLine:
        fields = {k: (v.strip() if isinstance(v, str) else v) for k, v in record.fields.items()}
        if CSV_MODALITY in fields and not fields[CSV_MODALITY]:
            fields.pop(CSV_MODALITY)
        report = gold.line_report(record.line, fields, reports, seen, source)
        modality = report.modality.code
        statuses: dict[int, str] = {}
        for column, (key_modality, key_id) in self.columns.items():
            value = fields.get(column, "")
            if value not in CSV_VALUES:
                raise gold.GoldLineError(record.line, "must be 0 or 1", field=column)
            status = CSV_VALUES[str(value)]
            if status is None:
                continue
            if key_modality != modality:
                message = f"{column!r} is a {key_modality} key; this report is {modality}"
                raise gold.GoldLineError(record.line, message, field=column)
            statuses[key_id] = status
        return gold._GoldLine(report, not statuses, [], [], statuses)


# -- web uploads and the job ------------------------------------------------------------------


def label_upload_problem(*, upload: UploadedFile) -> str | None:
    """What is wrong with an upload before any job exists (size, name, type, encoding of
    its first bytes), or None."""
    if upload.size is not None and upload.size > settings.IMPORT_MAX_FILE_BYTES:
        return f"The file is {upload.size:,} bytes; the limit is {settings.IMPORT_MAX_FILE_BYTES:,}."
    suffix = Path(upload.name or "").suffix.lower()
    if suffix and suffix not in UPLOAD_SUFFIXES:
        return f"A {suffix} file cannot hold labels: upload a .jsonl (gold-file format) or .csv file."
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    return head_problem(head)  # an empty file: the form refuses it; the import says "no labels"


def label_import_job_create(
    *, upload: UploadedFile, source: str, label_source: str, fmt: str, user: Any
) -> Job:
    """Save the upload (already checked by upload_problem) and create its import Job;
    the caller enqueues the task. A report import's kind (interactive queue)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = import_upload_save(upload=upload, prefix="labels-")
    filename = Path(upload.name or "labels").name[:150]
    params = {
        "what": "labels",
        "path": str(path),
        "filename": filename,
        "fmt": fmt,
        "source": source,
        "label_source": (label_source.strip() or filename)[:MAX_LABEL_SOURCE],
    }
    title = f"Import labels {filename} for {source}"
    return job_create(kind=Job.Kind.IMPORT, title=title, params=params, user=user)


def label_import_job_work(job: Job) -> dict[str, Any]:
    """The work of a label import job (annotations.tasks.import_labels_task). The upload
    is deleted when the import ends."""
    params = job.params
    path = Path(params["path"])
    try:
        result = labels_import(
            path=path,
            source=params["source"],
            label_source=params["label_source"],
            fmt=params["fmt"],
            user=job.created_by,
            job_id=job.pk,
        )
    finally:
        if path.resolve().is_relative_to(settings.UPLOAD_DIR.resolve()):
            path.unlink(missing_ok=True)
    if not result.ok:
        Job.objects.filter(pk=job.pk).update(result=result.as_dict())
        raise LabelImportRefused(f"{result.summary()}; see the problems")
    return result.as_dict()

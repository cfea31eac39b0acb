"""Import reports from CSV, JSONL or OMOP CDM NOTE files: all or nothing.

Two passes over the file, streamed from disk both times:

1. check: every record is validated in plain Python (annotations.importing)
   and problems are collected, the first 100 listed and the rest counted.
   Nothing is written.
2. write: only when pass 1 found no problem, the rows are validated again and
   written in ONE transaction, in batches of settings.IMPORT_BATCH_SIZE
   (annotations.importing.writer: a query for the batch's existing ids, one
   for its content hashes, then bulk_create / bulk_update). A cancel request
   or any error rolls back the whole file.

Memory does not grow with the file except for the map of external ids seen.
Called by `manage.py import_reports` and, for web uploads, by the Celery task
annotations.tasks.import_reports_task through `import_job_work`.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, connections, transaction

from annotations.importing.problems import MAX_LISTED, FileProblem, ImportProblem, ProblemList
from annotations.importing.readers import CsvRecords, JsonlRecords, container_for, records_open
from annotations.importing.validation import (
    GENERIC,
    OMOP,
    Layout,
    Modalities,
    RowChecker,
    ValidRow,
    header_problem,
    layout_detect,
)
from annotations.importing.writer import ContentDuplicate, batch_write
from annotations.models import Modality
from jobs.models import Job
from jobs.services import JobCancelled, job_cancel_requested, job_create, job_progress

__all__ = ["ContentDuplicate", "ImportProblem", "ImportResult", "import_job_create", "reports_import"]

logger = logging.getLogger(__name__)

FORMATS = ("auto", "csv", "jsonl", "omop")
ON_DUPLICATE = ("skip", "update")
MAX_SOURCE = 100  # Report.source
UPLOAD_SUFFIXES = frozenset({".csv", ".jsonl", ".ndjson", ".json", ".txt"})


@dataclass
class ImportResult:
    ok: bool
    fmt: str  # what the file was read as: "csv", "jsonl" or "omop"
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    content_duplicates: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    problems_omitted: int = 0  # problems beyond the listed ones ("and N more")
    content_duplicate_rows: list[ContentDuplicate] = field(default_factory=list)  # the first 100

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for Job.result."""
        return asdict(self)

    def summary(self) -> str:
        """One line without PHI, for the command, the log and the job page."""
        if not self.ok:
            count = len(self.problems) + self.problems_omitted
            return f"{self.fmt}: nothing imported: {count} problem(s) in {self.rows} row(s)"
        return (
            f"{self.fmt}: {self.rows} row(s): {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped, "
            f"{self.content_duplicates} content duplicate(s)"
        )


@dataclass(frozen=True)
class _Plan:
    path: Path
    fmt: str
    container: str
    source: str
    on_duplicate: str
    modalities: Modalities
    default_modality_id: int | None
    job_id: int | None
    size: int  # bytes: pass 1 estimates the number of reports from the share read so far


def reports_import(
    *,
    path: Path,
    fmt: str = "auto",
    source: str,
    on_duplicate: str = "skip",
    default_modality: str | None = None,
    user: Any = None,
    job_id: int | None = None,
) -> ImportResult:
    """Import every report of the file at `path`, or none of them.

    Returns ok=False with the problems when any row is invalid (nothing is
    written). Raises ValueError for invalid arguments and JobCancelled when the
    job was cancelled (nothing is written either).
    """
    plan = _plan(path, fmt, source, on_duplicate, default_modality, job_id)
    problems = ProblemList()
    scan = _Scan(plan, problems)
    try:
        _check_pass(plan, scan)
    except FileProblem as exc:
        problems.add(exc.problem)
    if not problems and scan.rows == 0:
        message = "the file has no reports" if scan.header_line is None else "no reports after the header"
        problems.add(ImportProblem(line=scan.header_line or 1, field="file", message=message))
    result = ImportResult(ok=not problems, fmt=scan.fmt, rows=scan.rows)
    result.problems, result.problems_omitted = problems.items, problems.omitted
    if result.ok:
        _write_pass(plan, result)
    logger.info("import into %r by user %s: %s", source, getattr(user, "pk", None), result.summary())
    return result


def _plan(
    path: Path, fmt: str, source: str, on_duplicate: str, default_modality: str | None, job_id: int | None
) -> _Plan:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}")
    if not source.strip() or len(source) > MAX_SOURCE:
        raise ValueError(f"source must be a non-empty name of at most {MAX_SOURCE} characters")
    modalities = _modalities()
    default_id = modalities.resolve(default_modality) if default_modality else None
    if default_modality and default_id is None:
        raise ValueError(f"unknown modality {default_modality!r}; known codes: {', '.join(modalities.codes)}")
    container = fmt if fmt in ("csv", "jsonl") else container_for(path)
    return _Plan(
        path, fmt, container, source, on_duplicate, modalities, default_id, job_id, path.stat().st_size
    )


def _modalities() -> Modalities:
    rows = list(Modality.objects.values_list("pk", "code", "name"))
    ids = {name.lower(): pk for pk, _code, name in rows} | {code.lower(): pk for pk, code, _name in rows}
    return Modalities(ids=ids, codes=tuple(sorted(code for _pk, code, _name in rows)))


class _Scan:
    """One pass over the file: yields the valid rows, adds problems to `problems`."""

    def __init__(self, plan: _Plan, problems: ProblemList) -> None:
        self.plan = plan
        self.problems = problems
        self.fmt = "omop" if plan.fmt == "omop" else plan.container
        self.rows = 0
        self.header_line: int | None = None
        self._records: CsvRecords | JsonlRecords | None = None

    @property
    def bytes_read(self) -> int:
        return self._records.lines.bytes_read if self._records else 0

    def __iter__(self) -> Iterator[ValidRow]:
        max_line_bytes = settings.REPORT_MAX_CHARS * 12 + 64 * 1024  # JSON may escape a character as 12 bytes
        with records_open(
            path=self.plan.path, container=self.plan.container, max_line_bytes=max_line_bytes
        ) as recs:
            self._records = recs
            checker = None
            if isinstance(recs, CsvRecords) and recs.columns is not None:
                self.header_line = recs.header_line
                checker = self._checker(recs.columns, line=recs.header_line)
            for item in recs:
                self.rows += 1
                if isinstance(item, ImportProblem):
                    self.problems.add(item)
                    continue
                checker = checker or self._checker(list(item.fields), line=item.line)
                outcome = checker.check(item)
                if isinstance(outcome, ValidRow):
                    yield outcome
                else:
                    for problem in outcome:
                        self.problems.add(problem)

    def _checker(self, columns: list[str], *, line: int) -> RowChecker:
        layout = self._layout(columns)
        self.fmt = "omop" if layout is OMOP else self.plan.container
        if self.header_line is not None:
            missing = header_problem(
                layout=layout, columns=columns, has_default_modality=self.plan.default_modality_id is not None
            )
            if missing:
                raise FileProblem(line=line, field="header", message=missing)
        if layout.modality is None and self.plan.default_modality_id is None:
            message = "the OMOP NOTE layout has no modality column: choose the modality of these reports"
            raise FileProblem(line=line, field="modality", message=message)
        return RowChecker(
            layout=layout,
            modalities=self.plan.modalities,
            default_modality_id=self.plan.default_modality_id,
            tz=ZoneInfo(settings.TIME_ZONE),
            max_chars=settings.REPORT_MAX_CHARS,
        )

    def _layout(self, columns: list[str]) -> Layout:
        if self.plan.fmt == "omop":
            return OMOP
        return layout_detect(columns) if self.plan.fmt == "auto" else GENERIC


# Progress is counted in reports over the two passes: each report is checked, then
# written, so a file of N reports is 2N steps. Pass 1 does not know N yet and
# estimates it from the share of the file's bytes read so far (never below the rows
# seen); pass 2 knows it.


def estimated_reports(*, rows: int, bytes_read: int, size: int) -> int:
    """The number of reports of a file whose first `bytes_read` of `size` bytes held `rows`."""
    if rows <= 0 or bytes_read <= 0:
        return rows
    return max(rows, round(rows * size / bytes_read))


def _check_pass(plan: _Plan, scan: _Scan) -> None:
    """Pass 1: validate every row, write nothing."""
    _report_progress(plan, done=0, total=None, message="Checking the file")
    for _row in scan:
        if scan.rows % settings.IMPORT_BATCH_SIZE == 0:
            about = estimated_reports(rows=scan.rows, bytes_read=scan.bytes_read, size=plan.size)
            _report_progress(
                plan,
                done=scan.rows,
                total=2 * about,
                message=f"Checking: {scan.rows:,} of about {about:,} reports",
            )


def _write_pass(plan: _Plan, result: ImportResult) -> None:
    """Pass 2: write all rows in one transaction. Call only after a clean pass 1."""
    total = 2 * result.rows
    _report_progress(plan, done=result.rows, total=total, message=f"Writing {result.rows:,} reports")
    scan = _Scan(plan, ProblemList())
    with _WriteProgress(plan.job_id) as progress, transaction.atomic():
        for batch in _batched(scan, settings.IMPORT_BATCH_SIZE):
            progress.step(
                done=result.rows + min(scan.rows, result.rows),
                total=total,
                message=f"Writing: {scan.rows:,} of {result.rows:,} reports",
            )
            _write_batch(plan, batch, result)
        if scan.problems:  # the file changed on disk since pass 1
            raise RuntimeError("the file changed while it was being imported; nothing was imported")


def _report_progress(plan: _Plan, *, done: int, total: int | None, message: str) -> None:
    if plan.job_id is not None:
        job_progress(job_id=plan.job_id, done=done, total=total, message=message)


def _batched(rows: Iterable[ValidRow], size: int) -> Iterator[list[ValidRow]]:
    batch: list[ValidRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _WriteProgress:
    """Progress and cancellation inside the write pass's single transaction.

    Writing the job row on the import's own connection would, on PostgreSQL,
    hold that row's lock until commit: the admin's cancel request would wait for
    the whole import, and the progress would stay invisible. So there the writes
    go through a one-thread pool, that is a second connection, while the cancel
    flag is read on the import's connection (a read takes no lock). SQLite
    allows one writer at a time, so there the pass only checks the flag.
    """

    def __init__(self, job_id: int | None) -> None:
        self.job_id = job_id
        side = job_id is not None and connection.vendor != "sqlite" and not connection.in_atomic_block
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-progress") if side else None

    def __enter__(self) -> _WriteProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.submit(connections.close_all)
            self._pool.shutdown(wait=True)

    def step(self, *, done: int, total: int, message: str) -> None:
        if self.job_id is None:
            return
        if job_cancel_requested(job_id=self.job_id):
            raise JobCancelled
        if self._pool is not None:
            self._pool.submit(_progress_quietly, self.job_id, done, total, message)


def _progress_quietly(job_id: int, done: int, total: int, message: str) -> None:
    # The import's own connection sees the cancel flag before its next batch.
    with contextlib.suppress(JobCancelled):
        job_progress(job_id=job_id, done=done, total=total, message=message)


def _write_batch(plan: _Plan, batch: list[ValidRow], result: ImportResult) -> None:
    outcome = batch_write(
        batch=batch,
        source=plan.source,
        on_duplicate=plan.on_duplicate,
        job_id=plan.job_id,
        list_room=MAX_LISTED - len(result.content_duplicate_rows),
    )
    result.created += outcome.created
    result.updated += outcome.updated
    result.skipped += outcome.skipped
    result.unchanged += outcome.unchanged
    result.content_duplicates += outcome.content_duplicates
    result.content_duplicate_rows += outcome.listed


# --- Web uploads: the file is saved by the request, imported by a worker -----


class ImportRefused(Exception):
    """The file had problems, so nothing was imported; the job's result lists them."""


def import_upload_save(*, upload: UploadedFile, prefix: str = "") -> Path:
    """Stream an upload to settings.UPLOAD_DIR under a random name (keeping a
    known extension, which format "auto" reads)."""
    settings.UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    suffix = Path(upload.name or "").suffix.lower()
    path = settings.UPLOAD_DIR / f"{prefix}{uuid.uuid4().hex}{suffix if suffix in UPLOAD_SUFFIXES else ''}"
    with path.open("xb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def import_job_create(
    *, upload: UploadedFile, source: str, fmt: str, on_duplicate: str, default_modality: str | None, user: Any
) -> Job:
    """Save the upload and create its import Job; the caller enqueues the task."""
    path = import_upload_save(upload=upload)
    filename = Path(upload.name or "upload").name[:150]
    params = {
        "path": str(path),
        "filename": filename,
        "fmt": fmt,
        "source": source,
        "on_duplicate": on_duplicate,
        "default_modality": default_modality,
    }
    return job_create(
        kind=Job.Kind.IMPORT, title=f"Import {filename} into {source}", params=params, user=user
    )


def import_job_work(job: Job) -> dict[str, Any]:
    """The work of an import job, run by job_run in a worker. The uploaded file
    is deleted when the import ends (a worker that dies leaves it for the
    redelivered task)."""
    params = job.params
    path = Path(params["path"])
    try:
        result = reports_import(
            path=path,
            fmt=params["fmt"],
            source=params["source"],
            on_duplicate=params["on_duplicate"],
            default_modality=params.get("default_modality"),
            user=job.created_by,
            job_id=job.pk,
        )
    finally:
        _upload_delete(path)
    if not result.ok:
        # job_run marks the job failed with this exception; the problems belong in its result.
        Job.objects.filter(pk=job.pk).update(result=result.as_dict())
        raise ImportRefused(f"{result.summary()}; see the problems")
    return result.as_dict()


def _upload_delete(path: Path) -> None:
    if path.resolve().is_relative_to(settings.UPLOAD_DIR.resolve()):
        path.unlink(missing_ok=True)

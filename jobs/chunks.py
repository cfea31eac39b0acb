"""Cohort jobs split into chunks that any worker of the job's queue runs (docs/decisions.md,
"Issue 19: a chunk table, not a chord").

    def work(job):                                            # the job's task body, via job_run
        return chunked_job_work(job, body="app.services.module:chunk_body", plan=..., finish=...)

    def chunk_body(job, chunk):                               # one chunk, in any worker
        rows = compute(chunk.report_ids)                      # reads, model calls: no transaction
        with chunk_writes(chunk) as counts:                   # the writes and "done", one transaction
            write(rows)
            counts.update(labelled=len(rows))

When the job starts, its cohort is snapshotted into JobChunk rows (JOBS_CHUNK_SIZE report
ids each; a resumed job finds them and keeps them). The job's task then sends
JOBS_CHUNK_HELPERS `jobs.chunk_runner` tasks to the same queue and claims chunks itself
until none is left; a helper does the same and exits. The job's task finishes the job
once every chunk is done, so progress, cancel, resume and the result stay those of the
one job the admin started.

A claim is exclusive: select_for_update(skip_locked=True) on PostgreSQL, a
compare-and-set UPDATE on SQLite. `attempts` is the claim's token: marking a chunk done
is the first statement of the chunk's write transaction and only matches the claim it
belongs to, so a worker that lost its chunk (it stopped beating and another worker took
the chunk) has its writes rolled back, and a redelivered chunk never duplicates rows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs.models import Job, JobChunk
from jobs.services import JobCancelled, job_cancel_requested, job_progress

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500
HELPERS = 16
WAIT_SECONDS = 0.5  # how often the job's task looks at the chunks others still run

ChunkBody = Callable[[Job, JobChunk], None]
Groups = Iterable[tuple[str, Sequence[int]]]


class ChunkLost(Exception):
    """The chunk was given to another worker after this one stopped beating."""


class ChunksFailed(Exception):
    """Some chunks of the job failed; the message carries the first error."""


def chunk_size() -> int:
    return max(1, int(getattr(settings, "JOBS_CHUNK_SIZE", CHUNK_SIZE)))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


# -- planning ------------------------------------------------------------------------------


def chunk_ranges(n: int, size: int) -> list[tuple[int, int]]:
    """[start, end) index ranges of `size` covering 0..n once each, in order."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def chunks_plan(*, job: Job, groups: Groups, size: int | None = None) -> int:
    """Snapshot the job's cohort into chunks, unless it has them already (a resumed job
    keeps its snapshot). `groups`: (group name, report ids) in the order to run them.
    Returns the number of reports the chunks cover."""
    existing = JobChunk.objects.filter(job=job)
    if existing.exists():
        return _covered(job.pk)
    size = size or chunk_size()
    rows: list[JobChunk] = []
    for group, ids in groups:
        ids = list(ids)
        for start, end in chunk_ranges(len(ids), size):
            rows.append(JobChunk(job=job, index=len(rows), group=group, report_ids=ids[start:end]))
    with transaction.atomic():
        if not JobChunk.objects.filter(job=job).exists():  # two deliveries of one job
            JobChunk.objects.bulk_create(rows, batch_size=200)
    return _covered(job.pk)


def _covered(job_id: int) -> int:
    rows = JobChunk.objects.filter(job_id=job_id).values_list("report_ids", flat=True)
    return sum(len(ids) for ids in rows)


# -- claiming and finishing one chunk --------------------------------------------------------------


def chunk_claim(*, job_id: int, worker: str | None = None) -> JobChunk | None:
    """Take the job's next pending chunk for this worker, or None when none is left.
    Exclusive: two workers never hold the same claim."""
    worker = worker or worker_name()
    now = timezone.now()
    pending = JobChunk.objects.filter(job_id=job_id, state=JobChunk.State.PENDING).order_by("index")
    if connection.vendor == "postgresql":
        with transaction.atomic():
            chunk = pending.select_for_update(skip_locked=True).first()
            if chunk is None:
                return None
            chunk.state, chunk.worker, chunk.heartbeat_at = JobChunk.State.RUNNING, worker, now
            chunk.attempts += 1
            chunk.save(update_fields=["state", "worker", "heartbeat_at", "attempts", "updated_at"])
            return chunk
    while True:  # SQLite (one writer at a time): compare and set
        pk = pending.values_list("pk", flat=True).first()
        if pk is None:
            return None
        taken = JobChunk.objects.filter(pk=pk, state=JobChunk.State.PENDING).update(
            state=JobChunk.State.RUNNING,
            worker=worker,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        if taken:
            return JobChunk.objects.get(pk=pk)


@contextlib.contextmanager
def chunk_writes(chunk: JobChunk) -> Iterator[dict[str, Any]]:
    """The chunk's write transaction: marks it done first (only if this worker's claim
    still holds it: ChunkLost otherwise, and nothing is written), then the caller's
    writes; the counts the caller puts in the yielded dict are stored with it."""
    counts: dict[str, Any] = {}
    with transaction.atomic():
        mine = JobChunk.objects.filter(pk=chunk.pk, state=JobChunk.State.RUNNING, attempts=chunk.attempts)
        if not mine.update(state=JobChunk.State.DONE, updated_at=timezone.now()):
            raise ChunkLost(f"chunk {chunk.index} of job {chunk.job_id} was taken over")
        yield counts
        done = int(counts.get("reports", len(chunk.report_ids)))
        JobChunk.objects.filter(pk=chunk.pk).update(counts=counts, done=done, error="")
    chunk.state, chunk.counts, chunk.done = JobChunk.State.DONE, counts, done


def chunk_progress(chunk: JobChunk, *, done: int, message: str = "") -> None:
    """Reports finished inside a running chunk (a slow one: an LLM's): the chunk's count,
    its heartbeat and the job's progress. Raises JobCancelled when the job was cancelled."""
    JobChunk.objects.filter(pk=chunk.pk, state=JobChunk.State.RUNNING, attempts=chunk.attempts).update(
        done=done, heartbeat_at=timezone.now()
    )
    job_chunks_progress(job_id=chunk.job_id, message=message)


def job_chunks_progress(*, job_id: int, message: str = "") -> None:
    """The job's progress is the sum of its chunks' counts. Raises JobCancelled."""
    totals = JobChunk.objects.filter(job_id=job_id).aggregate(done=Sum("done"))
    total = Job.objects.filter(pk=job_id).values_list("progress_total", flat=True).first()
    done = int(totals["done"] or 0)
    job_progress(job_id=job_id, done=done, total=total, message=message or f"{done}/{total} reports")


def _chunk_failed(chunk: JobChunk, exc: BaseException) -> None:
    JobChunk.objects.filter(pk=chunk.pk, state=JobChunk.State.RUNNING, attempts=chunk.attempts).update(
        state=JobChunk.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000], updated_at=timezone.now()
    )


def _chunk_release(chunk: JobChunk) -> None:
    """Back to pending (a cancelled job's running chunk: a resume redoes it)."""
    JobChunk.objects.filter(pk=chunk.pk, state=JobChunk.State.RUNNING, attempts=chunk.attempts).update(
        state=JobChunk.State.PENDING, worker="", done=0, updated_at=timezone.now()
    )


def chunks_requeue_stale(*, stale_after: timedelta | None = None, job_id: int | None = None) -> int:
    """Running chunks whose worker stopped beating go back to pending; returns how many."""
    if stale_after is None:
        stale_after = timedelta(seconds=float(getattr(settings, "JOBS_STALE_SECONDS", 45.0)))
    cutoff = timezone.now() - stale_after
    stale = JobChunk.objects.filter(state=JobChunk.State.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    if job_id is not None:
        stale = stale.filter(job_id=job_id)
    return stale.update(state=JobChunk.State.PENDING, worker="", done=0, updated_at=timezone.now())


# -- running chunks -------------------------------------------------------------------------------


def chunks_run(*, job_id: int, body: str, worker: str | None = None, own: bool = False) -> int:
    """Claim and run the job's chunks until none is pending or the job stops; returns
    how many this worker ran. A chunk that raises is marked failed (the job fails when
    its task finishes); a cancel stops the claiming, and the running chunk goes back.
    A helper runs only while the job is running; the job's own task (`own`) while it
    is not finished."""
    run: ChunkBody = import_string(body)
    worker = worker or worker_name()
    ran = 0
    with _ChunkBeat() as beat:
        while _job_live(job_id, own=own):
            chunk = chunk_claim(job_id=job_id, worker=worker)
            if chunk is None:
                break
            beat.current = chunk
            try:
                job = Job.objects.get(pk=job_id)
                run(job, chunk)
                if chunk.state != JobChunk.State.DONE:
                    with chunk_writes(chunk):
                        pass
            except JobCancelled:
                _chunk_release(chunk)
                raise
            except ChunkLost:
                logger.warning("job %s: chunk %s was taken over by another worker", job_id, chunk.index)
            except Exception as exc:
                if job_cancel_requested(job_id=job_id):
                    _chunk_release(chunk)
                    raise JobCancelled from exc
                logger.exception("job %s: chunk %s failed", job_id, chunk.index)
                _chunk_failed(chunk, exc)
            finally:
                beat.current = None
            ran += 1
            job_chunks_progress(job_id=job_id)
    return ran


def _job_live(job_id: int, *, own: bool = False) -> bool:
    if job_cancel_requested(job_id=job_id):
        raise JobCancelled
    jobs = Job.objects.filter(pk=job_id)
    if own:
        return jobs.exclude(status__in=Job.FINISHED).exists()
    return jobs.filter(status=Job.Status.RUNNING).exists()


def chunked_job_work(
    job: Job,
    *,
    body: str,
    plan: Callable[[Job], Groups],
    finish: Callable[[Job, list[JobChunk]], dict[str, Any]],
    size: int | None = None,
) -> dict[str, Any]:
    """The task body of a chunked job (run by job_run): snapshot the cohort (`plan`,
    only on the first start), send the helpers, run chunks until none is left, wait for
    the chunks other workers still run (taking back those whose worker died), then
    `finish(job, chunks)` returns the job's result. `body`: the dotted path of the
    chunk function, which helpers in other processes import."""
    total = chunks_plan(job=job, groups=plan(job), size=size)
    Job.objects.filter(pk=job.pk).update(progress_total=total)
    pending = JobChunk.objects.filter(job=job, state=JobChunk.State.PENDING).count()
    _helpers_send(job, body, min(int(getattr(settings, "JOBS_CHUNK_HELPERS", HELPERS)), pending - 1))
    job_chunks_progress(job_id=job.pk, message="started")
    unfinished = [JobChunk.State.PENDING, JobChunk.State.RUNNING]
    while True:
        chunks_run(job_id=job.pk, body=body, own=True)
        if Job.objects.filter(pk=job.pk, status__in=Job.FINISHED).exists():
            raise RuntimeError("the job finished elsewhere while its chunks ran")
        if not JobChunk.objects.filter(job=job, state__in=unfinished).exists():
            break
        time.sleep(WAIT_SECONDS)
        chunks_requeue_stale(job_id=job.pk)
        job_chunks_progress(job_id=job.pk)  # raises JobCancelled
    chunks = list(JobChunk.objects.filter(job=job).order_by("index"))
    failed = [c for c in chunks if c.state == JobChunk.State.FAILED]
    if failed:
        raise ChunksFailed(f"{len(failed)} of {len(chunks)} chunk(s) failed; first: {failed[0].error[:500]}")
    return finish(job, chunks)


def _helpers_send(job: Job, body: str, count: int) -> None:
    if count <= 0:
        return

    def send() -> None:
        for _ in range(count):
            current_app.send_task("jobs.chunk_runner", args=[job.pk, body], queue=job.queue or None)

    transaction.on_commit(send)


def chunk_counts_sum(chunks: Iterable[JobChunk], *, group: str | None = None) -> dict[str, int]:
    """The numeric counts of the chunks (of one group) added up."""
    out: dict[str, int] = {}
    for chunk in chunks:
        if group is not None and chunk.group != group:
            continue
        for name, value in (chunk.counts or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = out.get(name, 0) + int(value)
    return out


class _ChunkBeat(threading.Thread):
    """Beats for the chunk this worker runs, on its own connection (JOBS_HEARTBEAT)."""

    def __init__(self) -> None:
        super().__init__(name="chunk-heartbeat", daemon=True)
        self.current: JobChunk | None = None
        self._stopped = threading.Event()

    def __enter__(self) -> _ChunkBeat:
        if getattr(settings, "JOBS_HEARTBEAT", True):
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=5)

    def run(self) -> None:
        seconds = float(getattr(settings, "JOBS_HEARTBEAT_SECONDS", 10.0))
        try:
            while not self._stopped.wait(seconds):
                chunk = self.current
                if chunk is None:
                    continue
                try:
                    JobChunk.objects.filter(
                        pk=chunk.pk, state=JobChunk.State.RUNNING, attempts=chunk.attempts
                    ).update(heartbeat_at=timezone.now())
                except Exception:
                    logger.warning("chunk heartbeat failed", exc_info=True)
        finally:
            connection.close()

"""Writes on Job rows. Tasks call these; views call job_create / job_cancel.

Progress writes, the heartbeat and the cancel request are single UPDATE
statements, and finishing a job writes only its outcome columns, so no write of
the worker ever undoes a cancel request a web request made in between.

Liveness: while `job_run` runs a job, a thread writes its heartbeat every
HEARTBEAT_SECONDS; the periodic check (jobs.tasks.requeue_stale_task, every 30 s
on Celery beat) and every worker start re-send a running job whose heartbeat is
older than STALE_SECONDS, and a second delivery of a job whose heartbeat is fresh
is a no-op (its first worker still runs it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone

from jobs.models import Job
from jobs.queues import queue_for, queue_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

LOG_MAX_CHARS = 20_000
HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 45.0
# Sent once when a job reaches a final status (sender=Job, job=..., status=...): apps
# tidy what the job owned (a cancelled training's model version).
job_finished = Signal()


class JobCancelled(Exception):
    """Raised inside a running job when an admin asked to cancel it."""


def job_create(
    *, kind: str, title: str, params: dict[str, Any] | None = None, user: User | None = None
) -> Job:
    return Job.objects.create(kind=kind, title=title, params=params or {}, created_by=user)


def job_enqueue(*, job: Job, task: Any) -> None:
    """Send `task(job.id)` to its queue (jobs.queues) once the surrounding transaction
    commits, so the worker never looks for a row it cannot see yet."""
    queue = queue_name(queue_for(kind=job.kind, params=job.params, task_name=task.name))
    Job.objects.filter(pk=job.pk).update(task_name=task.name, queue=queue)

    def send() -> None:
        result = task.apply_async(args=[job.id], queue=queue)
        Job.objects.filter(pk=job.pk).update(celery_task_id=result.id)

    transaction.on_commit(send)


def jobs_requeue_stale(
    *, stale_after: timedelta | None = None, send: Callable[[str, int, str], object]
) -> list[int]:
    """Re-send jobs whose worker died: running with a heartbeat (or, before the first
    one, a last write) older than `stale_after`, or queued but never sent. Called
    every minute and when a worker starts. Safe to repeat: a job that finished
    meanwhile is a no-op in job_start, one still beating is left alone there, and the
    work of every job kind is idempotent. `send(task_name, job_id, queue)`.

    Brokers differ here: Redis redelivers an unacknowledged message itself after
    its visibility timeout, kombu's SQLite transport never does."""
    stale_after = stale_after or timedelta(seconds=_stale_seconds())
    cutoff = timezone.now() - stale_after
    stale = (
        Job.objects.exclude(task_name="")
        .annotate(alive_at=Coalesce("heartbeat_at", "updated_at"))
        .filter(
            Q(status=Job.Status.RUNNING, alive_at__lt=cutoff)
            | Q(status=Job.Status.QUEUED, celery_task_id="", created_at__lt=cutoff)
        )
    )
    requeued = []
    for job in stale.only("id", "task_name", "queue"):
        send(job.task_name, job.pk, job.queue)
        job_log(job_id=job.pk, line="re-sent to a worker after the previous one stopped")
        requeued.append(job.pk)
    return requeued


def job_start(*, job_id: int) -> Job | None:
    """Mark a queued (or re-sent running) job as running. Returns None when the job
    is finished, cancelled, or still running elsewhere (its heartbeat is fresh), so
    a second delivery is a no-op."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return None
        if job.cancel_requested:
            _finish(job, Job.Status.CANCELLED)
            return None
        marker = _cancel_marker(job.pk)
        if marker.exists() and marker.stat().st_mtime < job.created_at.timestamp():
            marker.unlink(missing_ok=True)  # left by an older job row with the same id
        fresh = timezone.now() - timedelta(seconds=_stale_seconds())
        if job.status == Job.Status.RUNNING and job.heartbeat_at is not None and job.heartbeat_at > fresh:
            return None
        now = timezone.now()
        if job.started_at is None:
            job.started_at = now
        job.status = Job.Status.RUNNING
        job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "heartbeat_at", "updated_at"])
        return job


def job_heartbeat(*, job_id: int) -> bool:
    """One beat: the job's worker is alive. False once the job is no longer running."""
    return bool(Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now()))


def _retry_locked(write: Callable[[], object], attempts: int = 3) -> None:
    """Retry a single-statement write that SQLite refused as locked (its busy timeout
    ran out behind another process's long transaction). Safe because each such write
    is idempotent: it sets columns to values, it does not add to them."""
    for attempt in range(1, attempts + 1):
        try:
            write()
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts or connection.in_atomic_block:
                raise
            logger.warning("job write refused as locked; retrying (%s/%s)", attempt, attempts)


def job_progress(*, job_id: int, done: int, total: int | None = None, message: str = "") -> None:
    """Record progress; raise JobCancelled if cancellation was requested."""
    fields: dict[str, Any] = {"progress_done": done, "updated_at": timezone.now()}
    if total is not None:
        fields["progress_total"] = total
        fields["progress_done"] = min(done, total)
    if message:
        fields["progress_message"] = message[:300]
    _retry_locked(lambda: Job.objects.filter(pk=job_id).update(**fields))
    if job_cancel_requested(job_id=job_id):
        raise JobCancelled


def job_log(*, job_id: int, line: str) -> None:
    job = Job.objects.only("log").get(pk=job_id)
    stamp = timezone.now().strftime("%H:%M:%S")
    text = (job.log + f"[{stamp}] {line}\n")[-LOG_MAX_CHARS:]
    Job.objects.filter(pk=job_id).update(log=text)


def job_succeed(*, job_id: int, result: dict[str, Any]) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        job.result = result
        if job.progress_total is not None:
            job.progress_done = job.progress_total
        _finish(job, Job.Status.SUCCEEDED)


def job_fail(*, job_id: int, error: str, result: dict[str, Any] | None = None) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        job.error = error[:10_000]
        if result is not None:
            job.result = result
        _finish(job, Job.Status.FAILED)


def job_mark_cancelled(*, job_id: int) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        _finish(job, Job.Status.CANCELLED)


def job_cancel(*, job: Job) -> bool:
    """Ask a job to stop: one UPDATE that no later write of the worker undoes. A queued
    job is cancelled at once; a running one stops at its next progress report or
    cancel check. Returns False if it had already finished.

    The marker file comes first: on SQLite a job inside one long write transaction
    (an import's write pass) holds the only write lock, so the UPDATE below waits for
    it; the job sees the marker at its next batch, rolls back, and the UPDATE goes
    through at once."""
    if Job.objects.filter(pk=job.pk).exclude(status__in=Job.FINISHED).exists():
        marker = _cancel_marker(job.pk)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    live = (Job.Status.QUEUED, Job.Status.RUNNING)
    now = timezone.now()
    if not Job.objects.filter(pk=job.pk, status__in=live).update(cancel_requested=True, updated_at=now):
        return False
    if Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=now, updated_at=now
    ):
        _cancel_marker(job.pk).unlink(missing_ok=True)
        job_finished.send(sender=Job, job=Job.objects.get(pk=job.pk), status=Job.Status.CANCELLED)
    return True


def job_cancel_requested(*, job_id: int) -> bool:
    """For work between progress reports (an import's write pass): the marker file or
    the flag."""
    marker = _cancel_marker(job_id)
    if marker.exists():
        created = Job.objects.filter(pk=job_id).values_list("created_at", flat=True).first()
        # A marker older than the row was left by an earlier row with the same id (a
        # database reset, a test database): it says nothing about this job.
        if created is not None and marker.stat().st_mtime >= created.timestamp():
            return True
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


def _cancel_marker(job_id: int) -> Path:
    """Where job_cancel leaves its marker (the folder is made when the first one is)."""
    return Path(settings.DATA_DIR) / "jobs" / f"cancel-{job_id}"


def job_run(*, job_id: int, work: Callable[[Job], dict[str, Any]]) -> None:
    """Run `work(job)` with the job's lifecycle around it: start, beat, succeed with
    its result, record cancellation, or fail with the error message. The one
    place where a task's exceptions turn into a status the admin sees. A job asked
    to cancel ends cancelled whatever the work raised on its way out."""
    job = job_start(job_id=job_id)
    if job is None:
        return
    beat = _Heartbeat(job_id) if getattr(settings, "JOBS_HEARTBEAT", True) else None
    try:
        if beat is not None:
            beat.start()
        result = work(job)
    except JobCancelled:
        job_mark_cancelled(job_id=job_id)
    except Exception as exc:
        if job_cancel_requested(job_id=job_id):
            job_mark_cancelled(job_id=job_id)
        else:
            logger.exception("job %s failed", job_id)
            job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
    else:
        job_succeed(job_id=job_id, result=result)
    finally:
        if beat is not None:
            beat.stop()


class _Heartbeat(threading.Thread):
    """Beats for one job until stopped, on its own database connection. A long unit
    of work (an epoch, an LLM call) no longer looks like a dead worker."""

    def __init__(self, job_id: int) -> None:
        super().__init__(name=f"job-{job_id}-heartbeat", daemon=True)
        self.job_id = job_id
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(_heartbeat_seconds()):
                try:
                    if not job_heartbeat(job_id=self.job_id):
                        return
                except Exception:  # a locked database skips a beat; the next one counts
                    logger.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def _heartbeat_seconds() -> float:
    return float(getattr(settings, "JOBS_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))


def _stale_seconds() -> float:
    return float(getattr(settings, "JOBS_STALE_SECONDS", STALE_SECONDS))


def _finish(job: Job, status: str) -> None:
    """Only the outcome columns: a full save would write back a stale cancel_requested."""
    job.status = status
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "result", "error", "progress_done", "updated_at"])
    _cancel_marker(job.pk).unlink(missing_ok=True)
    job_finished.send(sender=Job, job=job, status=status)

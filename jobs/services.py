"""Writes on Job rows. Tasks call these; views call job_create / job_cancel.

Progress writes are single UPDATE statements so a worker never overwrites a
cancel request that a web request made in between.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

LOG_MAX_CHARS = 20_000


class JobCancelled(Exception):
    """Raised inside a running job when an admin asked to cancel it."""


def job_create(
    *, kind: str, title: str, params: dict[str, Any] | None = None, user: User | None = None
) -> Job:
    return Job.objects.create(kind=kind, title=title, params=params or {}, created_by=user)


def job_enqueue(*, job: Job, task: Any) -> None:
    """Send `task(job.id)` to the broker once the surrounding transaction commits,
    so the worker never looks for a row it cannot see yet."""

    Job.objects.filter(pk=job.pk).update(task_name=task.name)

    def send() -> None:
        result = task.delay(job.id)
        Job.objects.filter(pk=job.pk).update(celery_task_id=result.id)

    transaction.on_commit(send)


def jobs_requeue_stale(*, stale_after: timedelta, send: Callable[[str, int], object]) -> list[int]:
    """Re-send jobs whose worker died: running but silent for `stale_after`, or
    queued but never sent. Called when a worker starts. Safe to repeat: a job
    that finished meanwhile is a no-op in job_start, and its work is idempotent.

    Brokers differ here: Redis redelivers an unacknowledged message itself after
    its visibility timeout, kombu's SQLite transport never does."""
    cutoff = timezone.now() - stale_after
    stale = Job.objects.exclude(task_name="").filter(
        Q(status=Job.Status.RUNNING, updated_at__lt=cutoff)
        | Q(status=Job.Status.QUEUED, celery_task_id="", created_at__lt=cutoff)
    )
    requeued = []
    for job in stale.only("id", "task_name"):
        send(job.task_name, job.pk)
        job_log(job_id=job.pk, line="re-sent to a worker after the previous one stopped")
        requeued.append(job.pk)
    return requeued


def job_start(*, job_id: int) -> Job | None:
    """Mark a queued (or redelivered running) job as running. Returns None when the
    job is already finished, so a redelivered message is a no-op."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return None
        if job.cancel_requested:
            _finish(job, Job.Status.CANCELLED)
            return None
        if job.started_at is None:
            job.started_at = timezone.now()
        job.status = Job.Status.RUNNING
        job.save(update_fields=["status", "started_at", "updated_at"])
        return job


def job_progress(*, job_id: int, done: int, total: int | None = None, message: str = "") -> None:
    """Record progress; raise JobCancelled if cancellation was requested."""
    fields: dict[str, Any] = {"progress_done": done, "updated_at": timezone.now()}
    if total is not None:
        fields["progress_total"] = total
        fields["progress_done"] = min(done, total)
    if message:
        fields["progress_message"] = message[:300]
    Job.objects.filter(pk=job_id).update(**fields)
    if Job.objects.filter(pk=job_id, cancel_requested=True).exists():
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
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at
    its next progress report. Returns False if it had already finished."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            return False
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested", "updated_at"])
        if job.status == Job.Status.QUEUED:
            _finish(job, Job.Status.CANCELLED)
    return True


def job_run(*, job_id: int, work: Callable[[Job], dict[str, Any]]) -> None:
    """Run `work(job)` with the job's lifecycle around it: start, succeed with
    its result, record cancellation, or fail with the error message. The one
    place where a task's exceptions turn into a status the admin sees."""
    job = job_start(job_id=job_id)
    if job is None:
        return
    try:
        result = work(job)
    except JobCancelled:
        job_mark_cancelled(job_id=job_id)
    except Exception as exc:
        logger.exception("job %s failed", job_id)
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
    else:
        job_succeed(job_id=job_id, result=result)


def _finish(job: Job, status: str) -> None:
    job.status = status
    job.finished_at = timezone.now()
    job.save()

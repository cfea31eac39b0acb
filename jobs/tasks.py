"""Celery tasks of the jobs app. Tasks take a job id and call one service."""

import time

from celery import current_app, shared_task

from jobs.chunks import chunks_requeue_stale, chunks_run
from jobs.models import Job
from jobs.services import JobCancelled, job_progress, job_run, jobs_requeue_stale


@shared_task(name="jobs.requeue_stale", ignore_result=True)
def requeue_stale_task() -> list[int]:
    """The periodic check (Celery beat, every 30 s): re-send running jobs whose
    heartbeat stopped, so a dead worker's jobs move on within about 75 s."""
    chunks_requeue_stale()  # a dead worker's chunks go back to pending for the others
    return jobs_requeue_stale(send=send_job)


@shared_task(name="jobs.chunk_runner", ignore_result=True)
def chunk_runner_task(job_id: int, body: str) -> int:
    """A helper of a chunked job (jobs.chunks): run its pending chunks, then exit (the
    job's own task finishes the job)."""
    try:
        return chunks_run(job_id=job_id, body=body)
    except JobCancelled:
        return 0


def send_job(task_name: str, job_id: int, queue: str = "") -> None:
    """Send a job's task by name to its queue (the default queue for rows without one)."""
    current_app.send_task(task_name, args=[job_id], queue=queue or None)


@shared_task(name="jobs.selftest")
def selftest_task(job_id: int) -> None:
    """Count to params["n"] (default 10), reporting progress at each step and
    sleeping params["sleep"] seconds between steps. Proves that a worker can reach
    the database and the broker: used by the worker integration test and to check
    a deployment."""
    job_run(job_id=job_id, work=_count)


def _count(job: Job) -> dict[str, int]:
    n = int(job.params.get("n", 10))
    pause = float(job.params.get("sleep", 0))
    for i in range(1, n + 1):
        if pause:
            time.sleep(pause)
        job_progress(job_id=job.pk, done=i, total=n, message=f"counted {i} of {n}")
    return {"counted": n}

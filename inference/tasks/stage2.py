"""Celery tasks for stage 2 (LLM relationship mapping): thin wrappers over services/stage2.py."""

from celery import shared_task

from inference.services.stage2 import stage2_job_work
from jobs.services import job_run


@shared_task
def stage2_batch_task(job_id: int) -> None:
    """Map every report of the job's cohort (see stage2_job_create). Redelivery after
    a worker restart resumes: reports this job already stored are skipped."""
    job_run(job_id=job_id, work=stage2_job_work)

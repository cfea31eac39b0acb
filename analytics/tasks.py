"""Celery tasks of the analytics app: take a job id, call one service."""

from celery import shared_task

from analytics.services.evaluation import evaluation_execute
from jobs.services import job_run


@shared_task(name="analytics.evaluate")
def evaluation_task(job_id: int) -> None:
    """Evaluate the methods of an EvaluationRun and store results and statistics."""
    job_run(job_id=job_id, work=evaluation_execute)

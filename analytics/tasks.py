"""Celery tasks of the analytics app: take a job id, call one service."""

from celery import shared_task

# The demo pipeline's task lives beside its orchestration code; importing it here
# registers it with every worker (autodiscovery looks at tasks modules only).
from analytics.demo_pipeline import demo_pipeline_task  # noqa: F401
from analytics.services.evaluation import evaluation_execute
from jobs.services import job_run


@shared_task(name="analytics.evaluate")
def evaluation_task(job_id: int) -> None:
    """Evaluate the methods of an EvaluationRun and store results and statistics."""
    job_run(job_id=job_id, work=evaluation_execute)

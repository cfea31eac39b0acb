"""Celery tasks of the demo app: take a job id, call one service.

The pipeline's task was registered as "analytics.demo_pipeline" while the demo
lived in analytics. Job rows store the task name (jobs_requeue_stale re-sends it
when a worker starts) and a broker may still hold a message under it, so the old
name stays registered beside the new one and runs the same work."""

from celery import shared_task

from demo.services.pipeline.run import demo_pipeline_work
from jobs.services import job_run

LEGACY_PIPELINE_TASK = "analytics.demo_pipeline"


@shared_task(name="demo.pipeline")
def demo_pipeline_task(job_id: int) -> None:
    """Run the demo pipeline's steps (see demo.services.pipeline)."""
    job_run(job_id=job_id, work=demo_pipeline_work)


@shared_task(name=LEGACY_PIPELINE_TASK)
def demo_pipeline_legacy_task(job_id: int) -> None:
    """The same task under its name before the move (rows and messages made then)."""
    job_run(job_id=job_id, work=demo_pipeline_work)

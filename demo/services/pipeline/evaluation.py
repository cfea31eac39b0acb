"""The evaluation step: an evaluation run per modality on the held-out gold set."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from analytics.models import EvaluationRun
from analytics.services.evaluation import evaluation_start
from analytics.tasks import evaluation_task
from annotations.models import Modality
from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.records import step_job_record, step_job_recorded
from demo.services.pipeline.step import Step, StepFailed
from jobs.models import Job
from jobs.services import job_enqueue


def evaluate(job: Job, step: Step, options: DemoOptions, user: User | None) -> dict[str, Any]:
    """Enqueue an evaluation run on the held-out gold set as its own Celery message (a
    site's evaluation run exactly; it starts when this worker is free)."""
    recorded = step_job_recorded(pipeline=job, name=step.name)
    if recorded is None:
        modality = Modality.objects.get(code=step.modality)
        run = evaluation_start(
            user=user,
            modality=modality,
            gold_set=EvaluationRun.GoldSet.HELDOUT,
            modes=list(options.eval_modes),
        )
        assert run.job is not None
        job_enqueue(job=run.job, task=evaluation_task)  # the caller enqueues, as a view does
        step_job_record(pipeline=job, name=step.name, step_job=run.job)
        recorded = run.job
    recorded.refresh_from_db()
    if recorded.status in (Job.Status.FAILED, Job.Status.CANCELLED):
        raise StepFailed(f"job #{recorded.pk} {recorded.get_status_display().lower()}: {recorded.error}")
    return {"job": recorded.pk, "status": recorded.status}

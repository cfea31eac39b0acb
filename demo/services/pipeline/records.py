"""Which job ran each step: the orchestrator records a step's job id in its own
params (params["steps"][name]) as soon as the job exists, so a redelivered
orchestrator resumes that job instead of starting the step twice."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from demo.services.pipeline.step import Step, StepFailed
from jobs.models import Job
from jobs.services import job_create, job_fail


def step_job_recorded(*, pipeline: Job, name: str) -> Job | None:
    """The step's job recorded by this pipeline (re-read: another step may have
    recorded one since `pipeline` was loaded)."""
    pipeline.refresh_from_db(fields=["params"])
    step_id = pipeline.params.get("steps", {}).get(name)
    return Job.objects.filter(pk=step_id).first() if step_id else None


def step_job_record(*, pipeline: Job, name: str, step_job: Job) -> None:
    """Record the step's job under the pipeline's row lock (params is one JSON value)."""
    with transaction.atomic():
        row = Job.objects.select_for_update().get(pk=pipeline.pk)
        row.params.setdefault("steps", {})[name] = step_job.pk
        Job.objects.filter(pk=pipeline.pk).update(params=row.params)
    pipeline.params = row.params


def step_job_run(*, pipeline: Job, name: str, create: Callable[[], Job], run: Callable[[int], None]) -> Job:
    """Create the step's job once (recorded in the pipeline), run it in this worker
    unless it already finished, and insist that it succeeded."""
    step_job = step_job_recorded(pipeline=pipeline, name=name)
    if step_job is None:
        step_job = create()
        step_job_record(pipeline=pipeline, name=name, step_job=step_job)
    if not step_job.is_finished:
        run(step_job.pk)
        step_job.refresh_from_db()
    if step_job.status != Job.Status.SUCCEEDED:
        why = step_job.error or step_job.get_status_display().lower()
        raise StepFailed(f"job #{step_job.pk} {step_job.get_status_display().lower()}: {why}")
    return step_job


def step_job_fail_unrun(*, pipeline: Job, step: Step, error: str) -> None:
    """A failed Job row for a step that never ran, saying why (the runs page shows it)."""
    row = job_create(
        kind=step.kind, title=f"Demo: {step.label}", params={"demo_step": step.name}, user=pipeline.created_by
    )
    job_fail(job_id=row.pk, error=error)
    step_job_record(pipeline=pipeline, name=step.name, step_job=row)

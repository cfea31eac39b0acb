"""The orchestrator with stand-in steps: cancelling between steps, and a redelivered
orchestrator resuming from the step jobs it recorded."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from demo.services.pipeline import run
from demo.services.pipeline.records import step_job_record, step_job_run
from demo.services.pipeline.start import demo_pipeline_start
from demo.services.pipeline.step import Step
from demo.tasks import demo_pipeline_task
from jobs.models import Job
from jobs.services import job_cancel, job_create, job_run, job_start

StepFn = Callable[..., dict[str, Any]]


def _steps(*functions: StepFn) -> list[Step]:
    return [Step(f"s{i}", f"step {i}", Job.Kind.OTHER, fn) for i, fn in enumerate(functions, start=1)]


@pytest.fixture
def pipeline(db, django_capture_on_commit_callbacks) -> Job:
    with django_capture_on_commit_callbacks(execute=False):
        job, _ = demo_pipeline_start()
    return job


def test_a_cancel_request_stops_the_pipeline_before_its_next_step(pipeline, monkeypatch):
    ran: list[str] = []

    def first(job: Job, step: Step, options: Any, user: Any) -> dict[str, Any]:
        ran.append(step.name)
        job_cancel(job=job)  # an admin presses "cancel" while step 1 runs
        return {}

    def second(job: Job, step: Step, options: Any, user: Any) -> dict[str, Any]:
        ran.append(step.name)
        return {}

    monkeypatch.setattr(run, "demo_steps", lambda options: _steps(first, second))

    demo_pipeline_task(pipeline.pk)

    pipeline.refresh_from_db()
    assert pipeline.status == Job.Status.CANCELLED
    assert ran == ["s1"]


def test_a_redelivered_pipeline_keeps_finished_step_jobs_and_resumes_the_running_one(pipeline, monkeypatch):
    created: list[str] = []
    ran: list[str] = []

    def step_fn(job: Job, step: Step, options: Any, user: Any) -> dict[str, Any]:
        def create() -> Job:
            created.append(step.name)
            return job_create(kind=step.kind, title=step.label)

        def run_job(step_job_id: int) -> None:
            ran.append(step.name)
            job_run(job_id=step_job_id, work=lambda j: {"step": step.name})

        return {"job": step_job_run(pipeline=job, name=step.name, create=create, run=run_job).pk}

    monkeypatch.setattr(run, "demo_steps", lambda options: _steps(step_fn, step_fn, step_fn))
    # The first delivery: step 1 succeeded, step 2's job was running when the worker died.
    job_start(job_id=pipeline.pk)
    done = job_create(kind=Job.Kind.OTHER, title="step 1")
    job_run(job_id=done.pk, work=lambda j: {"step": "s1"})
    running = job_create(kind=Job.Kind.OTHER, title="step 2")
    job_start(job_id=running.pk)
    step_job_record(pipeline=pipeline, name="s1", step_job=done)
    step_job_record(pipeline=pipeline, name="s2", step_job=running)
    dead = timezone.now() - timedelta(minutes=5)  # the worker's last heartbeat
    Job.objects.filter(pk__in=[pipeline.pk, running.pk]).update(heartbeat_at=dead)

    demo_pipeline_task(pipeline.pk)  # the broker redelivers the orchestrator

    pipeline.refresh_from_db()
    assert pipeline.status == Job.Status.SUCCEEDED, pipeline.error
    assert created == ["s3"]
    assert ran == ["s2", "s3"]
    steps = pipeline.params["steps"]
    assert (steps["s1"], steps["s2"]) == (done.pk, running.pk)
    assert pipeline.result == {name: {"job": steps[name]} for name in ("s1", "s2", "s3")}

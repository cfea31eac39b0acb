"""The orchestrator: run a pipeline's steps one after another in this worker.

Before each step it reports progress, which is also where an admin's cancel
request stops the pipeline (jobs.services.job_progress raises JobCancelled). A
step that raises fails the pipeline; every later step that has no job yet gets a
failed row saying why, so the runs page never shows a step as merely missing."""

from __future__ import annotations

from typing import Any

from demo.selectors import demo_admin
from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.records import step_job_fail_unrun, step_job_recorded
from demo.services.pipeline.step import StepFailed
from demo.services.pipeline.steps import demo_steps
from jobs.models import Job
from jobs.services import job_log, job_progress


def demo_pipeline_work(job: Job) -> dict[str, Any]:
    """Run every step of the pipeline `job` (job_run's work); returns each step's summary."""
    options = DemoOptions.from_params(job.params.get("options", {}))
    steps = demo_steps(options)
    user = job.created_by or demo_admin()
    outcome: dict[str, Any] = {}
    for number, step in enumerate(steps, start=1):
        job_progress(
            job_id=job.pk,
            done=number - 1,
            total=len(steps),
            message=f"step {number}/{len(steps)}: {step.label}",
        )
        try:
            outcome[step.name] = step.run(job, step, options, user)
        except Exception as exc:
            reason = f"{step.label} failed: {exc}"
            job_log(job_id=job.pk, line=reason)
            if step_job_recorded(pipeline=job, name=step.name) is None:  # refused before its job existed
                step_job_fail_unrun(pipeline=job, step=step, error=str(exc))
            for later in steps[number:]:
                if step_job_recorded(pipeline=job, name=later.name) is None:
                    step_job_fail_unrun(pipeline=job, step=later, error=f"not run: {reason}")
            raise StepFailed(reason) from exc
        job_log(job_id=job.pk, line=f"{step.label}: {_summary(outcome[step.name])}")
    return outcome


def _summary(result: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in result.items() if not isinstance(v, dict | list))[:300]

"""The review step: the stage 2 reports' predictions become review findings, so
the clinician has AI findings to verify."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.records import step_job_recorded, step_job_run
from demo.services.pipeline.step import Step
from jobs.models import Job
from jobs.services import job_create, job_progress, job_run
from review.models import ReviewFinding
from review.services.sync import sync_reports

SYNC_CHUNK = 10  # reports per progress report


def sync(job: Job, step: Step, options: DemoOptions, user: User | None) -> dict[str, Any]:
    """Sync the reports of every stage 2 step of this pipeline, in a job of its own."""
    ids: list[int] = []
    for code in options.modalities:
        stage2_job = step_job_recorded(pipeline=job, name=f"stage2_{code}")
        if stage2_job is not None:
            ids += list(stage2_job.params["cohort"]["report_ids"])

    def create() -> Job:
        return job_create(
            kind=Job.Kind.OTHER,
            title=f"Demo: put the AI findings of {len(ids)} reports in the review queue",
            params={"demo_step": step.name, "report_ids": ids},
            user=user,
        )

    def run(step_job_id: int) -> None:
        job_run(job_id=step_job_id, work=_sync_work)

    step_job = step_job_run(pipeline=job, name=step.name, create=create, run=run)
    return {"job": step_job.pk, **step_job.result}


def _sync_work(job: Job) -> dict[str, Any]:
    """review.services.sync_reports in chunks, with progress (idempotent: a resumed
    job syncs the finished chunks again at no harm)."""
    ids = list(job.params["report_ids"])
    job_progress(job_id=job.pk, done=0, total=len(ids), message="syncing review findings")
    for start in range(0, len(ids), SYNC_CHUNK):
        sync_reports(ids[start : start + SYNC_CHUNK])
        done = min(start + SYNC_CHUNK, len(ids))
        job_progress(job_id=job.pk, done=done, total=len(ids), message=f"{done}/{len(ids)} reports")
    pending = ReviewFinding.objects.filter(report_id__in=ids, superseded=False).count()
    return {"reports": len(ids), "findings": pending}

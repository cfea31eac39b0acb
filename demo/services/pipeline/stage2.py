"""The stage 2 step: predict a few dozen reports per modality (demo.selectors'
stage2_report_ids chooses them) in the pipeline's stage 2 mode."""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth.models import User

from demo.selectors import stage2_report_ids
from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.records import step_job_run
from demo.services.pipeline.step import Step, StepFailed
from inference.models import Stage2Prediction
from inference.services.stage2 import Cohort, stage2_job_create
from inference.tasks.stage2 import stage2_batch_task
from jobs.models import Job


def predict(job: Job, step: Step, options: DemoOptions, user: User | None) -> dict[str, Any]:
    """Run a stage 2 batch over the step's modality; fails when every report failed."""
    per_modality = math.ceil(options.stage2_reports / max(len(options.modalities), 1))

    def create() -> Job:
        ids = stage2_report_ids(modality_code=step.modality, count=per_modality)
        cohort = Cohort(modality=step.modality, report_ids=tuple(ids))
        # The demo maps before stage 1 is trained (the review queue fills first): with
        # --stage2-mode llm_hint those reports have no hint, which the demo accepts.
        return stage2_job_create(cohort=cohort, mode=options.stage2_mode, user=user, without_hint=True)

    step_job = step_job_run(pipeline=job, name=step.name, create=create, run=stage2_batch_task)
    result = step_job.result
    if result.get("failed") and not result.get("ok"):
        # The batch "succeeds" with every report stored as failed (a prompt or model
        # problem); clinicians would get nothing to verify, so the pipeline says so.
        first = (
            Stage2Prediction.objects.filter(job=step_job, status=Stage2Prediction.Status.FAILED)
            .values_list("error", flat=True)
            .first()
        )
        raise StepFailed(f"job #{step_job.pk}: all {result['failed']} reports failed, e.g. {first or '?'}")
    return {
        "job": step_job.pk,
        **{k: result.get(k) for k in ("reports", "ok", "failed", "seconds_per_report")},
    }

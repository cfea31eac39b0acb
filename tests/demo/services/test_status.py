"""`manage.py demo_pipeline --status`: the orchestrator's line, then one line per step."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.steps import demo_steps
from jobs.models import Job
from jobs.services import job_create, job_fail


def test_status_without_a_pipeline_says_so(db):
    with pytest.raises(CommandError, match="no demo pipeline has been started"):
        call_command("demo_pipeline", status=True)


def test_status_lists_every_step_with_its_job_state_and_time(db):
    options = DemoOptions(stage2_mode="rules")
    trained = job_create(kind=Job.Kind.TRAIN, title="train")
    finished = timezone.now()
    Job.objects.filter(pk=trained.pk).update(
        status=Job.Status.SUCCEEDED, started_at=finished - timedelta(seconds=42), finished_at=finished
    )
    refused = job_create(kind=Job.Kind.TRAIN, title="train")
    job_fail(job_id=refused.pk, error="unknown size preset")
    pipeline = job_create(
        kind=Job.Kind.OTHER,
        title="Demo pipeline",
        params={
            "demo_pipeline": True,
            "options": options.to_params(),
            "steps": {"train_chest_ct": trained.pk, "train_brain_mri": refused.pk},
        },
    )
    Job.objects.filter(pk=pipeline.pk).update(
        status=Job.Status.FAILED,
        progress_message="step 2/10: stage 1 training (brain_mri)",
        error="StepFailed: stage 1 training (brain_mri) failed",
    )
    out = io.StringIO()

    call_command("demo_pipeline", status=True, stdout=out)

    lines = out.getvalue().splitlines()
    steps = demo_steps(options)
    first_train = [step.name for step in steps].index("train_chest_ct")
    assert lines[:2] == [
        f"job #{pipeline.pk} failed: step 2/10: stage 1 training (brain_mri)",
        "  error: StepFailed: stage 1 training (brain_mri) failed",
    ]
    assert lines[2:] == [
        *[f"  {step.label:<32} not started" for step in steps[:first_train]],
        f"  stage 1 training (chest_ct)      job #{trained.pk} succeeded in 42 s ",
        f"  stage 1 training (brain_mri)     job #{refused.pk} failed unknown size preset",
        *[f"  {step.label:<32} not started" for step in steps[first_train + 2 :]],
    ]
    assert "  stage 2 rules (chest_ct)         not started" in lines

"""Stage 1 steps: train a model per modality, promote it, predict every report.

A modality that already has an active model keeps it: training is skipped (and so
is its promotion), so running the demo on a site with models changes none."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.records import step_job_recorded, step_job_run
from demo.services.pipeline.step import Step
from inference.models import ModelVersion
from inference.selectors import model_version_active
from inference.services.stage1 import Cohort, inference_job_create, model_promote, training_job_create
from inference.tasks.stage1 import stage1_infer_task, stage1_train_task
from jobs.models import Job
from jobs.services import job_create, job_progress, job_run

PROMOTION_REASON = "demo bootstrap"


def train(job: Job, step: Step, options: DemoOptions, user: User | None) -> dict[str, Any]:
    """Train a stage 1 version of the step's modality (a training job a site runs)."""
    recorded = step_job_recorded(pipeline=job, name=step.name)
    if recorded is None and (active := model_version_active(modality=step.modality)) is not None:
        return {"skipped": f"{active.name} is already active"}

    def create() -> Job:
        created, _ = training_job_create(
            modality=step.modality,
            preset=options.preset,
            label_sources=options.label_sources,
            epochs=options.epochs,
            max_steps=options.max_steps,
            members=options.members,
            user=user,
        )
        return created

    step_job = step_job_run(pipeline=job, name=step.name, create=create, run=stage1_train_task)
    return {"job": step_job.pk, **{k: step_job.result.get(k) for k in ("name", "heldout_macro_f1")}}


def promote(job: Job, step: Step, options: DemoOptions, user: User | None) -> dict[str, Any]:
    """Promote the version the training step made, as the demo admin, in a job of its
    own (so the runs page shows who promoted what and why)."""
    train_job = step_job_recorded(pipeline=job, name=f"train_{step.modality}")
    if train_job is None:  # training was skipped: a version is already active
        active = model_version_active(modality=step.modality)
        return {"skipped": f"{active.name if active else 'nothing'} is active"}
    version = ModelVersion.objects.get(pk=train_job.params["model_version_id"])

    def create() -> Job:
        return job_create(
            kind=Job.Kind.OTHER,
            title=f"Demo: promote {version.name} as the active {step.modality} model",
            params={"demo_step": step.name, "model_version_id": version.pk, "reason": PROMOTION_REASON},
            user=user,
        )

    def run(step_job_id: int) -> None:
        job_run(job_id=step_job_id, work=lambda j: _promote_work(j, user))

    step_job = step_job_run(pipeline=job, name=step.name, create=create, run=run)
    return {"job": step_job.pk, "active": version.name}


def _promote_work(job: Job, user: User | None) -> dict[str, Any]:
    version = ModelVersion.objects.get(pk=job.params["model_version_id"])
    job_progress(job_id=job.pk, done=0, total=1, message=f"promoting {version.name}")
    if not version.is_active:
        model_promote(version=version, user=user, reason=job.params["reason"])
    job_progress(job_id=job.pk, done=1, total=1, message=f"{version.name} is active")
    return {"active": version.name, "reason": job.params["reason"]}


def infer(job: Job, step: Step, options: DemoOptions, user: User | None) -> dict[str, Any]:
    """Stage 1 inference of every report of the pipeline's modalities."""

    def create() -> Job:
        return inference_job_create(cohort=Cohort(modalities=list(options.modalities)), user=user)

    step_job = step_job_run(pipeline=job, name=step.name, create=create, run=stage1_infer_task)
    predicted = sum(v.get("cohort", 0) for v in step_job.result.values() if isinstance(v, dict))
    return {"job": step_job.pk, "reports": predicted}

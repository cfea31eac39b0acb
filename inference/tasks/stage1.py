"""Celery tasks for stage 1 (BERT training and inference): thin wrappers that take a
job id and run one service inside the job lifecycle (jobs.services.job_run)."""

from celery import shared_task

from inference.services.stage1 import inference_job_work, training_job_work
from jobs.services import job_run


@shared_task(name="inference.stage1_train")
def stage1_train_task(job_id: int) -> None:
    """Train a stage 1 model version (see stage1_training.training_job_create)."""
    job_run(job_id=job_id, work=training_job_work)


@shared_task(name="inference.stage1_infer")
def stage1_infer_task(job_id: int) -> None:
    """Predict a cohort of reports (see stage1_inference.inference_job_create)."""
    job_run(job_id=job_id, work=inference_job_work)

"""Celery tasks of the annotations app: thin wrappers that take ids and call one service."""

from celery import shared_task

from annotations.services.importing import import_job_work
from annotations.services.label_import import label_import_job_work
from annotations.services.weak_labels import weak_label_job_work
from jobs.services import job_run


@shared_task
def import_reports_task(job_id: int) -> None:
    """Import the file uploaded for job `job_id` (see import_job_create)."""
    job_run(job_id=job_id, work=import_job_work)


@shared_task
def import_labels_task(job_id: int) -> None:
    """Import the label file uploaded for job `job_id` (see label_import_job_create)."""
    job_run(job_id=job_id, work=label_import_job_work)


@shared_task
def weak_label_task(job_id: int) -> None:
    """Weak-label the reports nobody annotated and evaluate the modes against gold
    (see weak_label_job_create)."""
    job_run(job_id=job_id, work=weak_label_job_work)

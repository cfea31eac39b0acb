"""What the inference app tidies when a job ends (jobs.services.job_finished)."""

from __future__ import annotations

from typing import Any

from inference.models import ModelVersion
from jobs.models import Job

_VERSION_STATUS: dict[str, str] = {
    str(Job.Status.CANCELLED): str(ModelVersion.Status.CANCELLED),
    str(Job.Status.FAILED): str(ModelVersion.Status.FAILED),
}


def training_version_follows_its_job(sender: Any, job: Job, status: str, **kwargs: Any) -> None:
    """A training job that ends without succeeding, however it ended (cancelled while
    still queued, its worker lost, failed), leaves no model version "training"."""
    if job.kind != Job.Kind.TRAIN or status not in _VERSION_STATUS:
        return
    ModelVersion.objects.filter(job_id=job.pk, status=ModelVersion.Status.TRAINING).update(
        status=_VERSION_STATUS[status]
    )

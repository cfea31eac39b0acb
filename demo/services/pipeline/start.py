"""Starting the pipeline: enqueue one orchestrating job unless one is under way or done.

This module enqueues demo.tasks' task, which runs run.py's work: the enqueuing
side and the worker side are separate modules, so neither imports the other's
importer."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from demo.selectors import PIPELINE_FLAG, demo_admin, demo_pipeline_current
from demo.services.pipeline.options import DemoOptions
from demo.tasks import demo_pipeline_task
from jobs.models import Job
from jobs.services import job_create, job_enqueue

ACTIVE_STATUSES = (Job.Status.QUEUED, Job.Status.RUNNING, Job.Status.SUCCEEDED)


def demo_pipeline_start(*, options: DemoOptions | None = None, user: User | None = None) -> tuple[Job, bool]:
    """Enqueue the pipeline unless one is queued, running or done. Returns the job
    and whether it was created now. A failed or cancelled one is started afresh
    (its finished steps' results, e.g. an active model, are kept)."""
    options = options or DemoOptions()
    with transaction.atomic():
        current = demo_pipeline_current()
        if current is not None and current.status in ACTIVE_STATUSES:
            return current, False
        job = job_create(
            kind=Job.Kind.OTHER,
            title="Demo pipeline: train, promote, predict, review, evaluate",
            params={PIPELINE_FLAG: True, "options": options.to_params(), "steps": {}},
            user=user or demo_admin(),
        )
        job_enqueue(job=job, task=demo_pipeline_task)
    return job, True

"""Job rows for the tests of the job runner and of the apps whose work it runs."""

from __future__ import annotations

import factory

from jobs.models import Job


class JobFactory(factory.django.DjangoModelFactory[Job]):
    class Meta:
        model = Job

    kind = Job.Kind.OTHER
    title = "test job"


def chunk_died(job: Job) -> None:
    """The job's chunks as a worker that died while running them leaves them: running,
    with a heartbeat long stopped (the resumed job takes them back)."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import JobChunk

    JobChunk.objects.filter(job=job).update(
        state=JobChunk.State.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

"""Job rows for the tests of the job runner and of the apps whose work it runs."""

from __future__ import annotations

import factory

from jobs.models import Job


class JobFactory(factory.django.DjangoModelFactory[Job]):
    class Meta:
        model = Job

    kind = Job.Kind.OTHER
    title = "test job"

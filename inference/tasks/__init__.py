"""Celery tasks of the inference app (autodiscovered as `inference.tasks`)."""

from inference.tasks import stage1, stage2  # noqa: F401

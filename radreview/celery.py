"""The Celery application; tasks are discovered in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "radreview.settings.development")

app = Celery("radreview")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="radreview.ping")
def ping(value: str = "pong") -> str:
    """Round-trip check used by health checks and the broker integration test."""
    return value


@worker_ready.connect
def requeue_stale_jobs(sender: object = None, **kwargs: object) -> None:
    """A worker that starts picks up jobs a dead worker left behind (the periodic
    check, jobs.requeue_stale on beat, does the same every minute)."""
    from jobs.chunks import chunks_requeue_stale
    from jobs.services import jobs_requeue_stale
    from jobs.tasks import send_job

    chunks_requeue_stale()
    jobs_requeue_stale(send=send_job)

"""The Celery application; tasks are discovered in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "radreview.settings.development")

app = Celery("radreview")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="radreview.ping")
def ping(value: str = "pong") -> str:
    """Round-trip check used by health checks and the broker integration test."""
    return value

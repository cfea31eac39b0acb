"""demo/tasks.py: the pipeline's task under its name and under the name it had in
analytics, both running the pipeline's work (Job rows and broker messages made
before the move carry the old name)."""

from datetime import timedelta

from django.utils import timezone

from demo import tasks
from demo.services.pipeline.start import demo_pipeline_start
from jobs.models import Job
from jobs.services import jobs_requeue_stale
from radreview.celery import app


def test_the_worker_registers_the_pipeline_task_under_both_names():
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery

    assert app.tasks["demo.pipeline"].name == tasks.demo_pipeline_task.name
    assert app.tasks[tasks.LEGACY_PIPELINE_TASK].name == "analytics.demo_pipeline"


def test_a_new_pipeline_job_stores_the_new_task_name(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job, created = demo_pipeline_start()

    job.refresh_from_db()
    assert created
    assert job.task_name == "demo.pipeline"


def test_a_stale_job_with_the_old_task_name_is_resent_and_runs_the_pipeline(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks, "demo_pipeline_work", lambda job: {"ran": job.pk})
    with django_capture_on_commit_callbacks(execute=False):
        job, _ = demo_pipeline_start()
    long_ago = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(task_name="analytics.demo_pipeline", created_at=long_ago)
    app.loader.import_default_modules()

    resent = jobs_requeue_stale(
        stale_after=timedelta(minutes=10),
        send=lambda task_name, job_id, queue: app.tasks[task_name].apply(args=[job_id]),
    )

    job.refresh_from_db()
    assert resent == [job.pk]
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"ran": job.pk}

"""The job lifecycle that every background task runs inside."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.services import JobCancelled, job_cancel, job_enqueue, job_progress, job_run, jobs_requeue_stale
from jobs.tasks import selftest_task
from tests.jobs.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_job_run_succeeds_with_the_work_result_and_full_progress():
    job = JobFactory()

    def work(running: Job) -> dict:
        assert running.status == Job.Status.RUNNING
        job_progress(job_id=running.pk, done=2, total=4, message="half")
        return {"counted": 4}

    job_run(job_id=job.pk, work=work)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"counted": 4}
    assert job.progress_done == 4
    assert job.progress_message == "half"
    assert job.started_at is not None
    assert job.finished_at >= job.started_at


def test_job_run_records_the_failure_reason():
    job = JobFactory()

    def work(running: Job) -> dict:
        raise ValueError("row 7 has no text")

    job_run(job_id=job.pk, work=work)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "ValueError: row 7 has no text"
    assert job.finished_at is not None


def test_job_run_marks_a_job_cancelled_when_progress_sees_the_request():
    job = JobFactory()

    def work(running: Job) -> dict:
        job_progress(job_id=running.pk, done=1, total=3)
        job_cancel(job=running)  # an admin, between two batches
        job_progress(job_id=running.pk, done=2, total=3)
        raise AssertionError("not reached")

    job_run(job_id=job.pk, work=work)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert job.progress_done == 2
    assert job.error == ""


def test_cancel_queued_job_cancels_it_at_once_and_it_never_runs():
    job = JobFactory()
    assert job_cancel(job=job) is True
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED

    ran = []
    job_run(job_id=job.pk, work=lambda j: ran.append(j) or {})
    assert ran == []
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_cancel_running_job_sets_the_flag_and_the_next_progress_raises():
    job = JobFactory(status=Job.Status.RUNNING)
    assert job_cancel(job=job) is True
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    assert job.cancel_requested
    with pytest.raises(JobCancelled):
        job_progress(job_id=job.pk, done=1)


def test_cancel_finished_job_is_refused():
    job = JobFactory(status=Job.Status.SUCCEEDED)
    assert job_cancel(job=job) is False
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert not job.cancel_requested


def test_redelivered_message_for_a_finished_job_is_a_no_op():
    job = JobFactory()
    job_run(job_id=job.pk, work=lambda j: {"n": 1})
    job_run(job_id=job.pk, work=lambda j: {"n": 2})
    job.refresh_from_db()
    assert job.result == {"n": 1}


def test_stale_running_and_unsent_jobs_are_requeued_once_a_worker_starts(db):

    long_ago = timezone.now() - timedelta(hours=1)
    stale = JobFactory(status=Job.Status.RUNNING, task_name="jobs.selftest")
    unsent = JobFactory(status=Job.Status.QUEUED, task_name="jobs.selftest")
    fresh = JobFactory(status=Job.Status.RUNNING, task_name="jobs.selftest")
    sent = JobFactory(status=Job.Status.QUEUED, task_name="jobs.selftest", celery_task_id="abc")
    done = JobFactory(status=Job.Status.SUCCEEDED, task_name="jobs.selftest")
    Job.objects.filter(pk__in=[stale.pk, unsent.pk, sent.pk, done.pk]).update(
        updated_at=long_ago, created_at=long_ago
    )
    calls: list[tuple[str, int]] = []
    requeued = jobs_requeue_stale(
        stale_after=timedelta(minutes=10), send=lambda n, i, q: calls.append((n, i))
    )
    assert sorted(requeued) == sorted([stale.pk, unsent.pk])
    assert sorted(calls) == sorted([("jobs.selftest", stale.pk), ("jobs.selftest", unsent.pk)])
    assert fresh.pk not in requeued
    assert "re-sent" in Job.objects.get(pk=stale.pk).log


def test_enqueue_records_the_task_name(db, django_capture_on_commit_callbacks):
    job = JobFactory()
    with django_capture_on_commit_callbacks(execute=False):
        job_enqueue(job=job, task=selftest_task)
    assert Job.objects.get(pk=job.pk).task_name == "jobs.selftest"


def test_a_cancel_marker_older_than_the_job_row_does_not_cancel_it(db, settings, tmp_path):
    """A database reset restarts ids; the marker a cancelled job #n left behind must not
    cancel the new job #n."""
    import os

    from jobs.services import job_cancel_requested

    settings.DATA_DIR = tmp_path
    job = JobFactory(status=Job.Status.RUNNING)
    marker = tmp_path / "jobs" / f"cancel-{job.pk}"
    marker.parent.mkdir()
    marker.touch()
    old = job.created_at.timestamp() - 3600
    os.utime(marker, (old, old))
    assert job_cancel_requested(job_id=job.pk) is False

    job_cancel(job=job)  # a real request writes a fresh marker
    assert job_cancel_requested(job_id=job.pk) is True

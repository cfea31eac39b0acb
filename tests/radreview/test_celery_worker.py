"""A real `celery worker` process (tests/worker.py) against the configured broker and
the test database: a task round trip, a job's progress and result, a cancel.

Eager mode would skip everything that breaks in production: serialization, the
broker, a second process seeing (or not seeing) committed rows. One worker serves
all the tests of this module.
"""

from __future__ import annotations

import pytest

from jobs.models import Job
from jobs.services import job_cancel, job_create, job_enqueue
from jobs.tasks import selftest_task
from radreview.celery import ping
from tests.worker import wait_for

# transaction=True: the worker is another process and sees only committed rows. On
# the ping test too, so that pytest-django's reordering (transactional tests after
# the others) keeps this module's tests together and one worker serves them all.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_ping_round_trips_through_broker_and_result_backend(worker):
    with worker.log_on_failure():
        assert ping.delay().get(timeout=60) == "pong"
        assert ping.delay("échó 검사").get(timeout=60) == "échó 검사"  # JSON, not pickle, both ways


def test_job_runs_in_the_worker_and_records_progress_and_result(worker):
    n = 7
    with worker.log_on_failure():
        job = job_create(kind=Job.Kind.OTHER, title="worker self-test", params={"n": n})
        job_enqueue(job=job, task=selftest_task)

        def finished() -> bool:
            job.refresh_from_db()
            return job.is_finished

        wait_for(finished, what=f"job {job.pk} to finish")
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert job.result == {"counted": n}
        assert (job.progress_done, job.progress_total) == (n, n)
        assert job.progress_message == f"counted {n} of {n}"
        assert job.celery_task_id
        assert job.started_at <= job.finished_at


def test_running_job_stops_at_its_next_progress_report_after_cancel(worker):
    with worker.log_on_failure():
        job = job_create(kind=Job.Kind.OTHER, title="slow self-test", params={"n": 200, "sleep": 0.05})
        job_enqueue(job=job, task=selftest_task)

        def has_progress() -> bool:
            job.refresh_from_db()
            return job.progress_done > 0

        wait_for(has_progress, what=f"job {job.pk} to report progress")
        assert job_cancel(job=job) is True

        def finished() -> bool:
            job.refresh_from_db()
            return job.is_finished

        wait_for(finished, what=f"job {job.pk} to stop")
        assert job.status == Job.Status.CANCELLED
        assert 0 < job.progress_done < 200
        assert job.result == {}

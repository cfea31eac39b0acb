"""Liveness and cancel: a heartbeat while a job runs, dead workers' jobs re-sent,
a second delivery of a live job ignored, a cancel no write undoes, and the queue
each kind of job goes to."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.db.models.query import QuerySet
from django.utils import timezone

from jobs.models import Job
from jobs.queues import HEAVY, INTERACTIVE, queue_for
from jobs.selectors import queue_standing
from jobs.services import (
    job_cancel,
    job_enqueue,
    job_progress,
    job_run,
    job_start,
    job_succeed,
    jobs_requeue_stale,
)
from jobs.tasks import selftest_task
from tests.jobs.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_a_running_job_whose_heartbeat_stopped_is_resent_and_a_beating_one_is_not():
    old = timezone.now() - timedelta(minutes=5)
    dead = JobFactory(status=Job.Status.RUNNING, task_name="jobs.selftest", queue="heavy")
    alive = JobFactory(status=Job.Status.RUNNING, task_name="jobs.selftest")
    Job.objects.filter(pk=dead.pk).update(heartbeat_at=old, updated_at=old)
    Job.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now(), updated_at=old)
    calls = []
    requeued = jobs_requeue_stale(stale_after=timedelta(seconds=60), send=lambda *a: calls.append(a))
    assert requeued == [dead.pk] and calls == [("jobs.selftest", dead.pk, "heavy")]


def test_a_second_delivery_of_a_job_that_is_still_beating_is_a_no_op():
    job = JobFactory()
    assert job_start(job_id=job.pk) is not None
    assert job_start(job_id=job.pk) is None  # its first worker beat moments ago
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert job_start(job_id=job.pk) is not None  # that worker is gone: this one takes over


@pytest.mark.django_db(transaction=True)
def test_job_run_beats_while_the_work_runs(settings):
    settings.JOBS_HEARTBEAT = True
    settings.JOBS_HEARTBEAT_SECONDS = 0.05
    job = JobFactory()
    beats = []

    def work(running):
        first = Job.objects.get(pk=running.pk).heartbeat_at
        time.sleep(0.4)
        beats.append((first, Job.objects.get(pk=running.pk).heartbeat_at))
        return {}

    job_run(job_id=job.pk, work=work)
    first, later = beats[0]
    assert later > first
    assert not [t for t in threading.enumerate() if t.name == f"job-{job.pk}-heartbeat"]


def test_a_cancel_request_survives_the_workers_later_writes():
    job = JobFactory(status=Job.Status.RUNNING)
    stale_copy = Job.objects.get(pk=job.pk)
    assert job_cancel(job=job)
    job_succeed(job_id=stale_copy.pk, result={"n": 1})  # the worker finishes its last unit
    job.refresh_from_db()
    assert job.cancel_requested is True


def test_a_job_asked_to_cancel_ends_cancelled_whatever_the_work_raises():
    job = JobFactory()

    def work(running):
        job_cancel(job=running)
        raise RuntimeError("database is locked")  # e.g. the write that noticed it

    job_run(job_id=job.pk, work=work)
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.CANCELLED, "")


def test_progress_after_a_cancel_stops_the_job():
    job = JobFactory()

    def work(running):
        job_cancel(job=running)
        job_progress(job_id=running.pk, done=1, total=2)
        return {"not": "reached"}

    job_run(job_id=job.pk, work=work)
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED


def test_cancelling_a_queued_job_finishes_it_at_once_and_a_finished_one_not_at_all():
    queued = JobFactory()
    assert job_cancel(job=queued)
    assert Job.objects.get(pk=queued.pk).status == Job.Status.CANCELLED
    done = JobFactory(status=Job.Status.SUCCEEDED)
    assert job_cancel(job=done) is False
    assert Job.objects.get(pk=done.pk).cancel_requested is False


@pytest.mark.parametrize(
    ("kind", "params", "task", "queue"),
    [
        ("import", {}, "annotations.tasks.import_reports_task", INTERACTIVE),
        ("infer", {"planned_reports": 3}, "inference.tasks.stage2.stage2_batch_task", INTERACTIVE),
        ("infer", {"planned_reports": 5000}, "inference.tasks.stage2.stage2_batch_task", HEAVY),
        ("train", {}, "inference.stage1_train", HEAVY),
        ("other", {}, "demo.pipeline", HEAVY),
        ("other", {}, "jobs.selftest", INTERACTIVE),
    ],
)
def test_each_kind_of_job_goes_to_its_queue(kind, params, task, queue):
    assert queue_for(kind=kind, params=params, task_name=task) == queue


def test_enqueue_records_the_queue_and_sends_the_task_there(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(
        selftest_task,
        "apply_async",
        lambda args, queue: sent.append((args, queue)) or type("R", (), {"id": "x"}),
    )
    job = JobFactory(kind="other")
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(job=job, task=selftest_task)
    job.refresh_from_db()
    assert (job.queue, sent) == ("interactive", [([job.pk], "interactive")])


def test_a_queued_job_says_what_is_ahead_of_it_on_its_queue():
    started = timezone.now() - timedelta(minutes=2)
    training = JobFactory(status=Job.Status.RUNNING, queue="heavy", title="training")
    Job.objects.filter(pk=training.pk).update(started_at=started, progress_done=1, progress_total=2)
    JobFactory(status=Job.Status.RUNNING, queue="interactive")  # another queue: not ahead
    waiting = JobFactory(queue="heavy")
    standing = queue_standing(job=waiting, now=timezone.now())
    assert [j.pk for j in standing.running] == [training.pk] and standing.ahead == []
    assert 110 <= standing.eta.total_seconds() <= 130  # as long again as it has run
    assert standing.summary.startswith("On the heavy queue behind 1 running; it may start in about 2m")
    later = JobFactory(queue="heavy")
    assert queue_standing(job=later, now=timezone.now()).ahead == [waiting]
    assert queue_standing(job=training, now=timezone.now()) is None


@pytest.mark.django_db(transaction=True)  # a job's writes are their own transactions
def test_a_progress_write_refused_as_locked_is_retried(monkeypatch):
    job = JobFactory(status=Job.Status.RUNNING)
    real_update = QuerySet.update
    refusals = [OperationalError("database is locked")]

    def flaky_update(self, **kwargs):
        if refusals and "progress_done" in kwargs:
            raise refusals.pop()
        return real_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", flaky_update)
    job_progress(job_id=job.pk, done=3, total=9)
    assert Job.objects.get(pk=job.pk).progress_done == 3

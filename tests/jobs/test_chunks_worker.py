"""A worker killed in the middle of a chunk (a real worker process, the Redis broker,
PostgreSQL): the periodic check gives its chunk back, another worker redoes it, and no
report is written twice."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from annotations.models import WeakLabelSet
from jobs.chunks import chunks_plan, chunks_requeue_stale
from jobs.models import Job, JobChunk
from radreview.celery import app
from tests.annotations.factories import ReportFactory
from tests.conftest import ROOT
from tests.jobs.chunk_bodies import BODY
from tests.jobs.factories import JobFactory
from tests.worker import wait_for, worker_running

pytestmark = [
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"),
        reason="needs PostgreSQL and the Redis broker",
    ),
]


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_chunk_leaves_no_duplicates(tmp_path):
    ids = [ReportFactory().pk for _ in range(12)]
    job = JobFactory(status=Job.Status.RUNNING, started_at=timezone.now(), params={"sleep": 1.5})
    chunks_plan(job=job, groups=[("", ids)], size=3)
    chunks = JobChunk.objects.filter(job=job)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with worker_running(root=ROOT, log_dir=tmp_path / "first") as first, first.log_on_failure():
        app.send_task("jobs.chunk_runner", args=[job.pk, BODY], queue=first.queue)
        wait_for(lambda: chunks.filter(state="done").count() >= 1, what="a first chunk done")
        wait_for(lambda: chunks.filter(state="running").exists(), what="a chunk running")
        first.process.kill()  # SIGKILL in the middle of a chunk: no warm shutdown
        first.process.wait(timeout=10)
    dead = chunks.get(state="running")
    time.sleep(0.1)
    assert chunks_requeue_stale(stale_after=timedelta(0), job_id=job.pk) == 1  # the periodic check
    with worker_running(root=ROOT, log_dir=tmp_path / "second") as second, second.log_on_failure():
        app.send_task("jobs.chunk_runner", args=[job.pk, BODY], queue=second.queue)
        wait_for(lambda: chunks.filter(state="done").count() == 4, timeout=90, what="every chunk done")
    labels = list(WeakLabelSet.objects.filter(job=job).values_list("report_id", flat=True))
    assert sorted(labels) == ids  # each report exactly once
    dead.refresh_from_db()
    assert dead.attempts == 2 and dead.state == JobChunk.State.DONE

"""Chunked cohort jobs (jobs.chunks): every report once whatever the chunk size, an
exclusive claim, a lost claim writes nothing, cancel stops the chunks not started,
a crashed job resumes without duplicates, and progress is the chunks' sum."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from annotations.models import WeakLabelSet
from jobs.chunks import (
    ChunkLost,
    chunk_claim,
    chunk_ranges,
    chunk_writes,
    chunked_job_work,
    chunks_plan,
    chunks_requeue_stale,
)
from jobs.models import Job, JobChunk
from jobs.services import job_run
from tests.annotations.factories import ReportFactory
from tests.jobs.chunk_bodies import BODY, FAILING, labelled_total
from tests.jobs.factories import JobFactory, chunk_died


@given(n=st.integers(min_value=0, max_value=2000), size=st.integers(min_value=1, max_value=700))
def test_chunk_ranges_cover_every_index_exactly_once_in_order(n, size):
    covered = [i for start, end in chunk_ranges(n, size) for i in range(start, end)]
    assert covered == list(range(n))
    assert all(0 < end - start <= size for start, end in chunk_ranges(n, size))


@pytest.mark.django_db
@pytest.mark.parametrize(("n", "size"), [(0, 3), (1, 1), (1, 500), (7, 1), (7, 3), (7, 7), (7, 100)])
def test_a_plan_snapshots_every_report_once_and_is_kept_on_resume(n, size):
    job = JobFactory()
    ids = [10 + 3 * i for i in range(n)]
    assert chunks_plan(job=job, groups=[("a", ids[: n // 2]), ("b", ids[n // 2 :])], size=size) == n
    chunks = list(JobChunk.objects.filter(job=job).order_by("index"))
    assert [pk for c in chunks for pk in c.report_ids] == ids
    assert [c.index for c in chunks] == list(range(len(chunks)))
    if n:  # a resumed job keeps its snapshot (an empty one has nothing to keep)
        assert chunks_plan(job=job, groups=[("a", [1, 2, 3])], size=1) == n


@pytest.mark.django_db
def test_two_claimers_never_get_the_same_chunk():
    job = JobFactory(status=Job.Status.RUNNING)
    chunks_plan(job=job, groups=[("", [1, 2, 3])], size=2)
    first = chunk_claim(job_id=job.pk, worker="w1")
    second = chunk_claim(job_id=job.pk, worker="w2")
    assert first is not None and second is not None and first.pk != second.pk
    assert chunk_claim(job_id=job.pk, worker="w3") is None
    assert set(JobChunk.objects.values_list("worker", flat=True)) == {"w1", "w2"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_on_postgresql_take_each_chunk_once():
    job = JobFactory(status=Job.Status.RUNNING)
    chunks_plan(job=job, groups=[("", list(range(40)))], size=1)
    taken: list[int] = []
    barrier = threading.Barrier(4)

    def claim_all(name: str) -> None:
        try:
            barrier.wait()
            while (chunk := chunk_claim(job_id=job.pk, worker=name)) is not None:
                taken.append(chunk.pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(taken) == sorted(JobChunk.objects.filter(job=job).values_list("pk", flat=True))


@pytest.mark.django_db
def test_a_worker_whose_chunk_was_taken_over_writes_nothing():
    job = JobFactory(status=Job.Status.RUNNING)
    report = ReportFactory()
    chunks_plan(job=job, groups=[("", [report.pk])])
    slow = chunk_claim(job_id=job.pk, worker="slow")
    assert chunks_requeue_stale(stale_after=timedelta(0)) == 1  # it stopped beating
    fast = chunk_claim(job_id=job.pk, worker="fast")
    assert fast is not None and slow is not None and fast.attempts == 2
    with pytest.raises(ChunkLost), chunk_writes(slow):
        WeakLabelSet.objects.create(report=report, mode="keyword", schema_version=1, job=job)
    assert not WeakLabelSet.objects.exists()
    with chunk_writes(fast) as counts:
        counts["reports"] = 1
    assert JobChunk.objects.get().state == JobChunk.State.DONE


def _chunked(job: Job, body: str = BODY) -> dict:
    return chunked_job_work(
        job, body=body, plan=lambda j: [("", j.params["ids"])], finish=labelled_total, size=2
    )


def _job(n: int, **params) -> Job:
    ids = [ReportFactory().pk for _ in range(n)]
    return JobFactory(params={"ids": ids, **params})


@pytest.mark.django_db
def test_a_job_runs_every_chunk_and_its_progress_and_result_are_the_chunks_sums():
    job = _job(5)
    job_run(job_id=job.pk, work=_chunked)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result == {"reports": 5, "labelled": 5}
    assert (job.progress_done, job.progress_total) == (5, 5)
    assert WeakLabelSet.objects.filter(job=job).count() == 5
    assert set(JobChunk.objects.filter(job=job).values_list("state", flat=True)) == {"done"}


@pytest.mark.django_db
def test_an_empty_cohort_succeeds_with_nothing_to_do():
    job = _job(0)
    job_run(job_id=job.pk, work=_chunked)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result == {}
    assert not JobChunk.objects.filter(job=job).exists()


@pytest.mark.django_db
def test_cancel_stops_the_chunks_not_yet_started():
    job = _job(6, cancel_after_index=0)  # the first chunk cancels the job once written
    job_run(job_id=job.pk, work=_chunked)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    states = list(JobChunk.objects.filter(job=job).order_by("index").values_list("state", flat=True))
    assert states == ["done", "pending", "pending"]
    assert WeakLabelSet.objects.filter(job=job).count() == 2
    assert job.progress_done == 2


@pytest.mark.django_db
def test_a_job_resumed_after_a_crash_redoes_only_the_dead_workers_chunk_without_duplicates():
    job = _job(6)
    job_run(job_id=job.pk, work=_chunked)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    chunk_died(job)  # as a dead worker left them
    JobChunk.objects.filter(job=job, index__gt=0).update(state=JobChunk.State.DONE)
    job_run(job_id=job.pk, work=_chunked)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert WeakLabelSet.objects.filter(job=job).count() == 6
    assert (
        sorted(WeakLabelSet.objects.filter(job=job).values_list("report_id", flat=True)) == job.params["ids"]
    )
    assert list(JobChunk.objects.filter(job=job).order_by("index").values_list("attempts", flat=True)) == [
        2,
        1,
        1,
    ]


@pytest.mark.django_db
def test_a_failed_chunk_fails_the_job_and_the_others_still_run():
    job = _job(6)
    job_run(job_id=job.pk, work=lambda j: _chunked(j, FAILING))
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "1 of 3 chunk(s) failed" in job.error and "chunk one is broken" in job.error
    assert WeakLabelSet.objects.filter(job=job).count() == 4

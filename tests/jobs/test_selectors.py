"""ETA and elapsed time shown on the jobs screens."""

from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import Job
from jobs.selectors import estimate_remaining, format_duration, job_timing

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("done", "total", "elapsed_s", "expected_s"),
    [
        (25, 100, 60, 180),  # 25 per minute, 75 to go
        (1, 3, 10, 20),
        (99, 100, 990, 10),
        (100, 100, 50, 0),  # finished work needs no time
        (120, 100, 50, 0),  # over-reporting never gives a negative ETA
    ],
)
def test_eta_assumes_the_average_rate_so_far(done, total, elapsed_s, expected_s):
    eta = estimate_remaining(done=done, total=total, elapsed=timedelta(seconds=elapsed_s))
    assert eta == timedelta(seconds=expected_s)


@pytest.mark.parametrize(("done", "elapsed_s"), [(0, 60), (5, 0)])
def test_eta_is_unknown_without_a_rate(done, elapsed_s):
    assert estimate_remaining(done=done, total=10, elapsed=timedelta(seconds=elapsed_s)) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (12.4, "12s"), (59.6, "1m 00s"), (187, "3m 07s"), (7500, "2h 05m"), (-3, "0s")],
)
def test_format_duration(seconds, text):
    assert format_duration(timedelta(seconds=seconds)) == text


def test_format_duration_of_nothing_is_blank():
    assert format_duration(None) == ""


def test_timing_of_a_running_job_uses_now_and_gives_an_eta():
    job = Job(
        status=Job.Status.RUNNING, started_at=NOW - timedelta(minutes=2), progress_done=40, progress_total=100
    )
    timing = job_timing(job=job, now=NOW)
    assert timing.elapsed == timedelta(minutes=2)
    assert timing.eta == timedelta(minutes=3)
    assert (timing.elapsed_display, timing.eta_display) == ("2m 00s", "3m 00s")


def test_timing_of_a_finished_job_stops_at_its_end_and_has_no_eta():
    job = Job(
        status=Job.Status.SUCCEEDED,
        started_at=NOW - timedelta(hours=1),
        finished_at=NOW - timedelta(minutes=50),
        progress_done=10,
        progress_total=10,
    )
    timing = job_timing(job=job, now=NOW)
    assert timing.elapsed == timedelta(minutes=10)
    assert timing.eta is None


def test_timing_of_a_queued_job_or_one_without_total_is_partial():
    assert job_timing(job=Job(status=Job.Status.QUEUED), now=NOW).elapsed is None
    running = Job(status=Job.Status.RUNNING, started_at=NOW - timedelta(seconds=5), progress_done=3)
    timing = job_timing(job=running, now=NOW)
    assert timing.elapsed == timedelta(seconds=5)
    assert timing.eta is None

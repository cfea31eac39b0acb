"""Reads on Job rows for the jobs screens, and the timing arithmetic they show.

`estimate_remaining` and `format_duration` are plain functions of numbers so the
ETA rule can be tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet

from jobs.models import Job

# Large text/JSON columns the list never shows: not worth reading 50 times a page.
_DETAIL_ONLY_FIELDS = ("params", "result", "log", "error")


def job_list() -> QuerySet[Job]:
    """Every job, newest first, with its creator, without the detail-only columns."""
    return Job.objects.select_related("created_by").defer(*_DETAIL_ONLY_FIELDS).order_by("-created_at", "-pk")


def job_detail() -> QuerySet[Job]:
    """Jobs with every column, for the detail page."""
    return Job.objects.select_related("created_by")


@dataclass(frozen=True)
class JobTiming:
    elapsed: timedelta | None
    eta: timedelta | None

    @property
    def elapsed_display(self) -> str:
        return format_duration(self.elapsed)

    @property
    def eta_display(self) -> str:
        return format_duration(self.eta)


def job_timing(*, job: Job, now: datetime) -> JobTiming:
    """How long the job has run (until now, or until it finished) and, while it
    runs with a known total, how long it still needs at its average rate so far."""
    if job.started_at is None:
        return JobTiming(elapsed=None, eta=None)
    elapsed = (job.finished_at or now) - job.started_at
    if job.status != Job.Status.RUNNING or job.progress_total is None:
        return JobTiming(elapsed=elapsed, eta=None)
    eta = estimate_remaining(done=job.progress_done, total=job.progress_total, elapsed=elapsed)
    return JobTiming(elapsed=elapsed, eta=eta)


def estimate_remaining(*, done: int, total: int, elapsed: timedelta) -> timedelta | None:
    """Time left if the rest goes at the average rate so far: elapsed * (total - done) / done.
    None before the first unit is done or when no time has passed (no rate yet)."""
    if done >= total:
        return timedelta(0)
    if done <= 0 or elapsed <= timedelta(0):
        return None
    return elapsed * ((total - done) / done)


def format_duration(value: timedelta | None) -> str:
    """'2h 05m', '3m 07s', '12s'; '' for None. Rounded to whole seconds."""
    if value is None:
        return ""
    seconds = max(0, round(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"

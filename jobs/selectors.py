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


@dataclass(frozen=True)
class QueueStanding:
    """Where a queued job stands on its queue: the jobs running there and queued
    before it, and when it may start if they go at their rate so far."""

    queue: str
    running: list[Job]
    ahead: list[Job]
    eta: timedelta | None  # None: a job ahead has no rate yet

    @property
    def eta_display(self) -> str:
        return format_duration(self.eta)

    @property
    def summary(self) -> str:
        if not self.running and not self.ahead:
            return f"Next on the {self.queue} queue: waiting for its worker to take it."
        parts = []
        if self.running:
            parts.append(f"{len(self.running)} running")
        if self.ahead:
            parts.append(f"{len(self.ahead)} queued before it")
        text = f"On the {self.queue} queue behind {', '.join(parts)}"
        return text + (f"; it may start in about {self.eta_display}." if self.eta is not None else ".")


def queue_standing(*, job: Job, now: datetime) -> QueueStanding | None:
    """None unless the job is queued. A queued job ahead counts with its own earlier
    runtime unknown: the estimate covers the running jobs' remaining time only when
    nothing is queued ahead, and stays None otherwise."""
    if job.status != Job.Status.QUEUED:
        return None
    same = Job.objects.filter(queue=job.queue).defer(*_DETAIL_ONLY_FIELDS)
    running = list(same.filter(status=Job.Status.RUNNING).order_by("started_at"))
    ahead = list(same.filter(status=Job.Status.QUEUED, created_at__lt=job.created_at).order_by("created_at"))
    etas = [job_timing(job=r, now=now).eta for r in running]
    eta: timedelta | None = None
    if not ahead and all(e is not None for e in etas):
        eta = max((e for e in etas if e is not None), default=timedelta(0))
    return QueueStanding(job.queue or "default", running, ahead, eta)

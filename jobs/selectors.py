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
# The list shows a finished job's final counts (job_outcome), so it reads the result.
_LIST_DEFERRED_FIELDS = ("params", "log", "error")


def job_list() -> QuerySet[Job]:
    """Every job, newest first, with its creator, without the detail-only columns."""
    return (
        Job.objects.select_related("created_by").defer(*_LIST_DEFERRED_FIELDS).order_by("-created_at", "-pk")
    )


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


# -- what a finished job did ---------------------------------------------------------------------

# Result keys that are ids or versions, not counts worth showing.
_NOT_COUNTS = frozenset(
    {"model_version", "evaluation_run", "job", "id", "schema_version", "rules_version", "problems_omitted"}
)
# Labels of the result keys the jobs write (a key not here is shown with its own name).
_COUNT_LABELS = {
    "rows": "rows read",
    "created": "created",
    "updated": "updated",
    "unchanged": "unchanged",
    "skipped": "skipped",
    "content_duplicates": "content duplicates",
    "reports": "reports",
    "replaced": "replaced",
    "mentions": "mentions",
    "relations": "pairs",
    "no_findings": "no findings",
    "labelled": "labelled",
    "skipped_annotated": "skipped (annotated)",
    "gold_reports": "gold reports",
    "values_counted": "values counted",
    "cohort": "in cohort",
    "predicted_now": "predicted now",
    "already_predicted": "already predicted",
    "truncated": "truncated",
    "ok": "ok",
    "failed": "failed",
    "n_heldout": "held-out reports",
}
# Training: what went in (ModelVersion.data_counts), in this order.
_TRAINING_COUNTS = (
    ("gold", "gold labels"),
    ("weak", "weak labels"),
    ("approved", "clinician-approved"),
    ("total", "reports in total"),
)
MAX_OUTCOME_COUNTS = 12


@dataclass(frozen=True)
class JobOutcome:
    """A finished job, ready to show: its final state, how long it ran and the final
    counts from its result, instead of the last progress message (which is a
    running job's: "step 72/150 ... ETA 3m 32s")."""

    status: str
    state: str  # "Succeeded", "Failed", "Cancelled"
    duration: str  # "3m 07s"; "" when it never started
    counts: list[tuple[str, str]]  # (label, value), in the result's order
    headline: str  # one line: state, duration, the first counts

    @property
    def summary(self) -> str:
        return ", ".join(f"{value} {label}" for label, value in self.counts[:4])


def job_outcome(job: Job) -> JobOutcome | None:
    """What the finished `job` did (None while it is queued or running: those show their
    progress and ETA). Reads job.result, so do not defer it."""
    if not job.is_finished:
        return None
    duration = ""
    if job.started_at is not None and job.finished_at is not None:
        duration = format_duration(job.finished_at - job.started_at)
    counts = _result_counts(job)
    state = job.get_status_display()
    verb = "in" if job.status == Job.Status.SUCCEEDED else "after"
    headline = f"{state} {verb} {duration}" if duration else state
    if counts:
        headline += ": " + ", ".join(f"{value} {label}" for label, value in counts[:4])
    return JobOutcome(job.status, state, duration, counts, headline)


def _result_counts(job: Job) -> list[tuple[str, str]]:
    result = job.result if isinstance(job.result, dict) else {}
    counts: list[tuple[str, str]] = []
    data_counts = result.get("data_counts")
    if isinstance(data_counts, dict):  # a training run: the labels it used first
        counts += [(label, _number(data_counts[k])) for k, label in _TRAINING_COUNTS if k in data_counts]
        macro = result.get("heldout_macro_f1")
        if isinstance(macro, int | float):
            counts.append(("held-out macro F1", f"{100 * macro:.1f}"))
    problems = result.get("problems")
    if isinstance(problems, list) and problems:
        counts.append(("problems", _number(len(problems) + int(result.get("problems_omitted") or 0))))
    for key, value in result.items():
        if key in _NOT_COUNTS or key == "data_counts":
            continue
        if _is_count(value):
            counts.append((_COUNT_LABELS.get(key, key.replace("_", " ")), _number(value)))
        elif isinstance(value, dict):  # per modality: {"chest_ct": {"labelled": 120, ...}}
            counts += [
                (f"{key}: {_COUNT_LABELS.get(inner, inner.replace('_', ' '))}", _number(v))
                for inner, v in value.items()
                if inner not in _NOT_COUNTS and _is_count(v)
            ]
    return counts[:MAX_OUTCOME_COUNTS]


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)

"""Stage 2 (relationship mapping) on stored reports: one report now, or a cohort in a job.

    run = stage2_plan(modality=modality, mode="llm_hint")        # run key, model, prompt version
    prediction = stage2_predict_report(report=report, mode="llm_hint")   # sync (API)
    stage2_job_create(...) / stage2_job_work(job)                  # the Celery batch (tasks/stage2.py)
    stage2_map_reports(reports, run=run, ...)                      # a list of reports, stored in groups

This module is the common code: it stores, selects cohorts, runs batches and
retries; what a mode does (its plan, its per-report prediction,
which modalities it serves) is its strategy in inference.services.stage2_modes,
looked up in the registry by name. Every result is one Stage2Prediction per
(report, run key); the run key names the mode, modality, schema version, LLM,
prompt version and stage 1 version, so a rerun overwrites its own rows and never
mixes with another configuration's. A row also says why it was computed
(`purpose`: the pipeline, or an evaluation run): which row stands for a report is
inference.selectors.stage2_current_prediction.

Nothing is lost: a model output that fails validation, a report that passes
its time limit, or a server that stays unreachable after the retries is stored
as status "failed" with the error (and the raw output, when there was one).
Only a configuration error (no model file, no server URL) stops a batch, since
every other report would fail the same way. After each pipeline prediction is
stored (a single report's, or a batch's group; an evaluation's is not), the apps
that registered with inference.hooks.on_stage2_stored hear of it (review puts
the report in its queue; a batch's group in one batched sync).

A batch keeps up to RADREVIEW_LLM_MAX_IN_FLIGHT reports in flight on a server
backend (stage2_map_reports; inference.ml.llm.inflight) and stores what arrives in
groups; the rows are those of a sequential run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from annotations.models import Modality, Report
from inference import hooks
from inference.ml.llm.backends import LLMConfigError, LLMError, LLMUnavailable
from inference.ml.llm.inflight import in_flight
from inference.models import Stage2Prediction
from inference.services import stage2_backend
from inference.services.stage2_modes.pinning import pinned, plan_inputs
from inference.services.stage2_modes.registry import stage2_mode_get, stage2_modes
from inference.services.stage2_modes.schema import Stage2Conflict, Stage2Error
from inference.services.stage2_modes.strategy import (
    BackendFor,
    Stage2Mode,
    Stage2Plan,
    StoredFields,
)
from jobs.models import Job
from jobs.services import job_create, job_log, job_progress

__all__ = [
    "BackendFor",
    "Cohort",
    "RetryPolicy",
    "Stage2Conflict",
    "Stage2Error",
    "Stage2Outcome",
    "Stage2Plan",
    "cohort_reports",
    "mode_choices",
    "mode_refusal",
    "stage2_job_create",
    "stage2_job_work",
    "stage2_map_reports",
    "stage2_plan",
    "stage2_predict_report",
    "stage2_predictions",
    "stage2_runs",
]

logger = logging.getLogger(__name__)

# How a report's error starts when the LLM server stayed unreachable after the retries.
UNREACHABLE_PREFIX = "LLM server unreachable: "
# A batch stops when this many reports in a row found the server unreachable:
# the server is down, and the job is better failed (and resumed later) than
# filled with failures.
BATCH_REPORTS = 200  # reports read per query by a batch job
MAX_CONSECUTIVE_UNAVAILABLE = 3


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 0
    backoff: float = 0.0  # seconds before the first retry, doubled for each next one
    sleep: Callable[[float], None] = time.sleep


# -- the plan of a run -----------------------------------------------------------------


def stage2_plan(*, modality: Modality, mode: str, backend_for: BackendFor | None = None) -> Stage2Plan:
    """Resolve a run: for LLM modes this builds (not loads) the configured backend,
    so a configuration problem raises LLMConfigError here, before any work. Raises
    Stage2Error for an unknown mode or a modality the mode does not serve."""
    strategy = stage2_mode_get(mode)
    refusal = strategy.refusal(modality)
    if refusal:
        raise Stage2Error(refusal)
    return strategy.plan(modality, backend_for=backend_for or stage2_backend.llm_backend)


def mode_refusal(mode: str, modality: Modality) -> str | None:
    """Why `mode` cannot map `modality`'s reports, or None (form, API and plan share it;
    an unknown mode is the choice field's error, not this one's)."""
    strategy = stage2_modes().get(mode)
    return strategy.refusal(modality) if strategy is not None else None


def mode_choices() -> list[tuple[str, str]]:
    """(name, description) of every stage 2 mode, in registry order (forms and API)."""
    return [(name, mode.description) for name, mode in stage2_modes().items()]


# -- one report --------------------------------------------------------------------------


def stage2_predict_report(
    *,
    report: Report,
    mode: str,
    run: Stage2Plan | None = None,
    job: Job | None = None,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    backend_for: BackendFor | None = None,
    purpose: str = Stage2Prediction.Purpose.PIPELINE,
) -> Stage2Prediction:
    """Map one report and store the result (created or replaced for its run key).

    `timeout` bounds the report (all LLM steps); by default the configured
    REPORT_TIMEOUT. `purpose` says who asks: the pipeline (a batch, the API) or an
    evaluation run, whose rows never stand for the report. Raises LLMConfigError
    for configuration problems and Stage2Error for bad input; everything else ends
    in a stored prediction."""
    run = run or stage2_plan(modality=report.modality, mode=mode, backend_for=backend_for)
    if report.modality_id != run.modality.pk:
        raise Stage2Error(f"report {report.pk} is not a {run.modality.code} report")
    limit = timeout if timeout is not None else stage2_backend.llm_settings().report_timeout
    fields = _predict(stage2_mode_get(run.mode), report, run, limit, retry or RetryPolicy())
    prediction = _store(report, run, job, purpose, fields)
    if purpose == Stage2Prediction.Purpose.PIPELINE:
        # Apps built on inference hear of each pipeline prediction as soon as it is
        # stored (review: clinicians see the report in their queue), from a batch or a
        # single-report request alike; inference does not know who listens.
        hooks.stage2_stored(report)
    return prediction


def _predict(
    mode: Stage2Mode[Any], report: Report, run: Stage2Plan, limit: float, retry: RetryPolicy
) -> StoredFields:
    """The mode's fields for the report, tried again while the server is unreachable
    (per `retry`); a report that still fails is returned as failed fields, never lost.
    Only a configuration error raises: every other report would fail the same way."""
    return _predict_hinted(mode, report, run, limit, retry, mode.hint(report, run))


def _predict_hinted(
    mode: Stage2Mode[Any],
    report: Report,
    run: Stage2Plan,
    limit: float,
    retry: RetryPolicy,
    hint: list[str] | None,
) -> StoredFields:
    """_predict with the hint already read (a batch reads it on its own thread, since
    the calls in flight run on others and must not touch the database)."""
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            fields = mode.predict(report, run, hint=hint, limit=limit)
        except LLMConfigError:
            raise
        except LLMUnavailable as exc:
            if attempt <= retry.retries:
                retry.sleep(retry.backoff * 2 ** (attempt - 1))
                continue
            return _failed_fields(exc, started, attempt, hint, unavailable=True)
        except Exception as exc:  # a bad answer, or a bug: neither loses the report nor stops the batch
            if not isinstance(exc, LLMError):
                logger.exception("stage 2 (%s) failed on report %s", run.mode, report.pk)
            return _failed_fields(exc, started, attempt, hint)
        return {**fields, "attempts": attempt}


def _failed_fields(
    exc: BaseException, started: float, attempt: int, hint: list[str] | None, *, unavailable: bool = False
) -> StoredFields:
    seconds = time.perf_counter() - started
    prefix = UNREACHABLE_PREFIX if unavailable else ""
    return {
        "status": Stage2Prediction.Status.FAILED,
        "error": f"{prefix}{type(exc).__name__}: {exc}"[:5000],
        "hint": hint,
        "seconds": seconds,
        "timings": {"total": round(seconds, 3)},
        "attempts": attempt,
        "messages": [],
        "raw_output": "",
        "parsed": None,
        "findings": [],
        "rejected": [],
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


def _store(
    report: Report, run: Stage2Plan, job: Job | None, purpose: str, fields: dict[str, Any]
) -> Stage2Prediction:
    """Create or replace the report's prediction for this run key (idempotent).

    A pipeline write makes the row a pipeline row stored now. An evaluation write
    creates an evaluation row, or recomputes an existing row of the same run key
    and leaves its purpose and stored_at alone: an evaluation never demotes the
    pipeline's row, nor makes it the newest."""
    values = {
        "rejected": [],  # a mode that rejects nothing leaves no stale rejections behind
        **fields,
        "mode": run.mode,
        "llm_name": run.llm_name,
        "llm_info": run.llm_info,
        "prompt_version": run.prompt_version,
        "stage1_version": run.stage1_version,
        "job": job,
    }
    now = timezone.now()
    if purpose == Stage2Prediction.Purpose.PIPELINE:
        values |= {"purpose": purpose, "stored_at": now}
        create = values
    else:
        create = {**values, "purpose": purpose, "stored_at": now}
    prediction, _ = Stage2Prediction.objects.update_or_create(
        report=report, run_key=run.run_key, defaults=values, create_defaults=create
    )
    return prediction


def _store_many(pairs: list[tuple[Report, StoredFields]], run: Stage2Plan, job: Job | None) -> None:
    """_store for a group of pipeline predictions in one upsert (one query per group,
    not a few per report): created, or replaced for their run key."""
    now = timezone.now()
    rows = []
    for report, fields in pairs:
        values = {
            "rejected": [],
            **fields,
            "mode": run.mode,
            "llm_name": run.llm_name,
            "llm_info": run.llm_info,
            "prompt_version": run.prompt_version,
            "stage1_version": run.stage1_version,
            "job": job,
            "purpose": Stage2Prediction.Purpose.PIPELINE,
            "stored_at": now,
        }
        rows.append(Stage2Prediction(report=report, run_key=run.run_key, **values))
    if not rows:
        return
    update = sorted({name for row in pairs for name in row[1]} | _STORED_ALWAYS)
    Stage2Prediction.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["report", "run_key"], update_fields=update
    )


# What _store_many writes on a replaced row besides the mode's own fields.
_STORED_ALWAYS = {
    "rejected",
    "mode",
    "llm_name",
    "llm_info",
    "prompt_version",
    "stage1_version",
    "job",
    "purpose",
    "stored_at",
}


@dataclass(frozen=True, slots=True)
class Stage2Outcome:
    """One report's stored result, as a batch reports it."""

    report: Report
    status: str
    error: str
    seconds: float


def stage2_map_reports(
    reports: Iterable[Report],
    *,
    run: Stage2Plan,
    job: Job | None = None,
    timeout: float,
    retry: RetryPolicy,
    max_in_flight: int | None = None,
) -> Iterator[list[Stage2Outcome]]:
    """Run stage 2 over `reports` (of the run's modality) and store every result as
    pipeline predictions; yields each stored group. A cohort job (or a chunk of one)
    calls this with its reports read lazily.

    A mode whose `predict` may run concurrently (the LLM modes) keeps up to
    `max_in_flight` reports in flight (default: the configured MAX_IN_FLIGHT on a
    server backend, one on the in-process llama.cpp backend); the others run one at a
    time. Each report keeps its own time limit and retries. The hints (database
    reads) are read on this thread as reports enter the window; results are stored
    in groups as they arrive (one upsert, one review sync per group) while the next
    requests run. The stored rows are those of a sequential run: each row depends on
    its report alone. LLMConfigError stops the run (the reports in flight finish
    first, unstored)."""
    mode = stage2_mode_get(run.mode)
    if max_in_flight is None:
        max_in_flight = stage2_backend.llm_max_in_flight()
    if not mode.concurrent:
        max_in_flight = 1

    def hinted() -> Iterator[tuple[Report, list[str] | None]]:
        for report in reports:
            yield report, mode.hint(report, run)

    def work(item: tuple[Report, list[str] | None]) -> tuple[Report, StoredFields]:
        report, hint = item
        return report, _predict_hinted(mode, report, run, timeout, retry, hint)

    for done in in_flight(work, hinted(), max_in_flight=max_in_flight):
        pairs = [pair for _, pair in done]
        _store_many(pairs, run, job)
        hooks.stage2_stored_many([report for report, _ in pairs])
        yield [
            Stage2Outcome(report, str(f["status"]), str(f.get("error") or ""), float(f.get("seconds") or 0))
            for report, f in pairs
        ]


# -- a cohort, as a background job --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cohort:
    """Which reports of one modality a batch covers. Empty filters select everything;
    `only_missing` leaves out reports that already have a successful prediction of
    the run key."""

    modality: str
    date_from: date | None = None
    date_to: date | None = None
    patient_ids: tuple[str, ...] = ()
    report_ids: tuple[int, ...] = ()
    only_missing: bool = False

    def as_params(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "patient_ids": list(self.patient_ids),
            "report_ids": list(self.report_ids),
            "only_missing": self.only_missing,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Cohort:
        return cls(
            modality=params["modality"],
            date_from=date.fromisoformat(params["date_from"]) if params.get("date_from") else None,
            date_to=date.fromisoformat(params["date_to"]) if params.get("date_to") else None,
            patient_ids=tuple(params.get("patient_ids") or ()),
            report_ids=tuple(int(i) for i in params.get("report_ids") or ()),
            only_missing=bool(params.get("only_missing")),
        )


def cohort_reports(cohort: Cohort, *, run_key: str) -> QuerySet[Report]:
    reports = Report.objects.current().filter(modality__code=cohort.modality)  # not superseded ones
    tz = timezone.get_current_timezone()
    if cohort.date_from:
        reports = reports.filter(study_datetime__gte=datetime.combine(cohort.date_from, dtime.min, tz))
    if cohort.date_to:
        reports = reports.filter(study_datetime__lte=datetime.combine(cohort.date_to, dtime.max, tz))
    if cohort.patient_ids:
        reports = reports.filter(patient_id__in=cohort.patient_ids)
    if cohort.report_ids:
        reports = reports.filter(pk__in=cohort.report_ids)
    if cohort.only_missing:
        done = Stage2Prediction.objects.filter(run_key=run_key, status=Stage2Prediction.Status.OK)
        reports = reports.exclude(pk__in=done.values("report_id"))
    return reports.order_by("pk")


def stage2_job_create(*, cohort: Cohort, mode: str, user: Any = None) -> Job:
    """Check the request and create the job (the caller enqueues it). The run key is
    fixed now, so a resumed job keeps writing the same rows. Raises Stage2Error or
    LLMConfigError with a message for the admin."""
    modality = Modality.objects.filter(code=cohort.modality).first()
    if modality is None:
        raise Stage2Error(f"unknown modality {cohort.modality!r}")
    if cohort.date_from and cohort.date_to and cohort.date_from > cohort.date_to:
        raise Stage2Error("the start date is after the end date")
    inputs = plan_inputs(modality)
    with pinned(inputs):
        run = stage2_plan(modality=modality, mode=mode)
    total = cohort_reports(cohort, run_key=run.run_key).count()
    if total == 0:
        raise Stage2Conflict("no reports match this selection")
    params = {"mode": mode, "run_key": run.run_key, "cohort": cohort.as_params(), "planned_reports": total}
    params["pinned"] = inputs  # what a resumed job reads (stage2_modes.pinning)
    title = f"Stage 2 ({mode}) on {total} {modality.code} report(s)"
    return job_create(kind=Job.Kind.INFER, title=title, params=params, user=user)


def stage2_job_work(job: Job, *, backend_for: BackendFor | None = None) -> dict[str, Any]:
    """Run the job's cohort; resumable: reports this job already stored are skipped.
    The schema, rules and stage 1 version are those the job started with (pinned),
    so a resumed job writes the same rows; only an LLM change moves its run key,
    which is recorded on the job, not a failure."""
    with pinned(job.params.get("pinned")):
        return _stage2_job_work(job, backend_for=backend_for)


def _stage2_job_work(job: Job, *, backend_for: BackendFor | None) -> dict[str, Any]:
    params = job.params
    cohort = Cohort.from_params(params["cohort"])
    modality = Modality.objects.get(code=cohort.modality)
    run = stage2_plan(modality=modality, mode=params["mode"], backend_for=backend_for)
    changed: list[str] = []
    if run.run_key != params["run_key"]:
        # Only what cannot be pinned: the configured LLM or a prompt shipped with the code.
        changed = [f"run key {params['run_key']!r} -> {run.run_key!r}"]
        job_log(
            job_id=job.pk,
            line="the LLM or prompt changed since this job started; the remaining reports use "
            f"the new configuration (run key {run.run_key!r})",
        )

    config = stage2_backend.llm_settings()
    retry = RetryPolicy(retries=config.retries, backoff=config.retry_backoff)
    reports = cohort_reports(cohort, run_key=run.run_key)
    total = reports.count()
    # A subquery, not a list of ids: a resumed cohort may be larger than SQLite's
    # limit on query parameters.
    # This job's rows under any of its run keys (an LLM change moves the key mid-job).
    mine = Stage2Prediction.objects.filter(job=job).values("report_id")
    resumed = reports.filter(pk__in=mine).count()
    counts = {"ok": 0, "failed": 0, "resumed": resumed}
    seconds: list[float] = []
    if resumed:
        job_log(job_id=job.pk, line=f"resuming: {resumed} report(s) already done by this job")
    done = resumed
    unavailable_streak = 0
    job_progress(job_id=job.pk, done=done, total=total, message=f"{run.mode}: {done}/{total}")
    todo = _batches(reports.exclude(pk__in=mine).select_related("modality"))
    for group in stage2_map_reports(todo, run=run, job=job, timeout=config.report_timeout, retry=retry):
        for outcome in group:
            ok = outcome.status == Stage2Prediction.Status.OK
            counts["ok" if ok else "failed"] += 1
            seconds.append(outcome.seconds)
            unreachable = outcome.error.startswith(UNREACHABLE_PREFIX)
            unavailable_streak = unavailable_streak + 1 if unreachable else 0
            if not ok:
                # The error names no report text (validation errors quote JSON paths only).
                job_log(job_id=job.pk, line=f"report {outcome.report.pk}: failed: {outcome.error[:200]}")
            if unavailable_streak >= MAX_CONSECUTIVE_UNAVAILABLE:
                raise LLMUnavailable(
                    f"{unavailable_streak} reports in a row could not reach the LLM server; "
                    "the job stopped (run it again to resume). Last error: " + outcome.error[:300]
                )
        done += len(group)
        job_progress(job_id=job.pk, done=done, total=total, message=f"{run.mode}: {done}/{total}")
    return {
        "run_key": run.run_key,
        "mode": run.mode,
        "modality": modality.code,
        "reports": total,
        **counts,
        **({"version_changes": changed} if changed else {}),
        "seconds_per_report": round(sum(seconds) / len(seconds), 3) if seconds else None,
    }


def _batches(reports: QuerySet[Report], size: int = BATCH_REPORTS) -> Iterator[Report]:
    """The reports in id order, a batch at a time by keyset (id > the last one seen):
    no read cursor stays open while each report's prediction is written. On SQLite
    (WAL) a connection whose read snapshot is older than another connection's write
    cannot write at all ("database is locked" at once, whatever the busy timeout),
    which is how an annotator's save used to kill a long batch."""
    last = 0
    while True:
        batch = list(reports.filter(pk__gt=last).order_by("pk")[:size])
        if not batch:
            return
        yield from batch
        last = batch[-1].pk


def stage2_predictions(*, report: Report) -> QuerySet[Stage2Prediction]:
    return report.stage2_predictions.select_related("stage1_version").order_by("-created_at")


def stage2_runs(*, limit: int = 20) -> list[Job]:
    """Recent stage 2 jobs (inference jobs whose params carry a stage 2 run key)."""
    jobs = Job.objects.filter(kind=Job.Kind.INFER).order_by("-created_at")[: limit * 3]
    return [j for j in jobs if "run_key" in (j.params or {}) and "cohort" in j.params][:limit]

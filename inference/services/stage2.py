"""Stage 2 (relationship mapping) on stored reports: one report now, or a cohort in a job.

    run = stage2_plan(modality=modality, mode="llm_hint")        # run key, model, prompt version
    prediction = stage2_predict_report(report=report, mode="llm_hint")   # sync (API)
    stage2_job_create(...) / stage2_job_work(job)                  # the Celery batch (tasks/stage2.py)

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
stored (a batch's or a single report's; an evaluation's is not), the apps
that registered with inference.hooks.on_stage2_stored hear of it (review puts
the report in its queue; a batch tells it in groups, one batched sync each).

A batch keeps up to RADREVIEW_LLM_MAX_IN_FLIGHT reports in flight on a server
backend in the LLM modes (stage2_map_reports; inference.ml.llm.inflight) and
stores what arrives in groups; the rows are those of a sequential run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from annotations.models import Modality, Report
from inference import hooks
from inference.ml.llm.backends import LLMConfigError, LLMError, LLMUnavailable
from inference.ml.llm.inflight import in_flight
from inference.models import Stage1Prediction, Stage2Prediction
from inference.selectors import model_version_active
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
from jobs.chunks import chunk_counts_sum, chunk_progress, chunk_writes, chunked_job_work
from jobs.models import Job, JobChunk
from jobs.services import job_create, job_log

__all__ = [
    "BackendFor",
    "Cohort",
    "RetryPolicy",
    "Stage2Conflict",
    "Stage2Error",
    "Stage2HintMissing",
    "Stage2Outcome",
    "Stage2Plan",
    "cohort_reports",
    "hint_refusal",
    "hint_shortfall",
    "mode_choices",
    "mode_refusal",
    "stage2_job_create",
    "stage2_job_work",
    "stage2_map_reports",
    "stage2_plan",
    "stage2_predict_report",
    "stage2_predictions",
    "stage2_reports_run",
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
# A batch that maps one report at a time reads its inputs and stores its rows per group
# of this many reports, or sooner after this many seconds.
GROUP_REPORTS = 100
GROUP_SECONDS = 2.0


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
    notify: bool = True,
) -> Stage2Prediction:
    """Map one report and store the result (created or replaced for its run key).

    `timeout` bounds the report (all LLM steps); by default the configured
    REPORT_TIMEOUT. `purpose` says who asks: the pipeline (a batch, the API) or an
    evaluation run, whose rows never stand for the report. Raises LLMConfigError
    for configuration problems and Stage2Error for bad input; everything else ends
    in a stored prediction. `notify=False`: the caller tells the hooks itself
    (a batch, in groups: hooks.stage2_stored_many)."""
    run = run or stage2_plan(modality=report.modality, mode=mode, backend_for=backend_for)
    if report.modality_id != run.modality.pk:
        raise Stage2Error(f"report {report.pk} is not a {run.modality.code} report")
    limit = timeout if timeout is not None else stage2_backend.llm_settings().report_timeout
    fields = _predict(stage2_mode_get(run.mode), report, run, limit, retry or RetryPolicy())
    prediction = _store(report, run, job, purpose, fields)
    if notify and purpose == Stage2Prediction.Purpose.PIPELINE:
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
    **inputs: Any,
) -> StoredFields:
    """_predict with the hint already read (a batch reads it on its own thread, since
    the calls in flight run on others and must not touch the database); `inputs`: the
    report's prefetched inputs (`inputs=`, from Stage2Mode.prefetch), when read."""
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            fields = mode.predict(report, run, hint=hint, limit=limit, **inputs)
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
    if purpose == Stage2Prediction.Purpose.PIPELINE:
        return _store_many([(report, fields)], run, job)[0]
    values = _row_values(fields, run, job)
    create = {**values, "purpose": purpose, "stored_at": timezone.now()}
    prediction, _ = Stage2Prediction.objects.update_or_create(
        report=report, run_key=run.run_key, defaults=values, create_defaults=create
    )
    return prediction


def _row_values(fields: dict[str, Any], run: Stage2Plan, job: Job | None) -> dict[str, Any]:
    """A stored row's fields: the mode's, and the run's configuration."""
    return {
        "rejected": [],  # a mode that rejects nothing leaves no stale rejections behind
        **fields,
        "mode": run.mode,
        "llm_name": run.llm_name,
        "llm_info": run.llm_info,
        "prompt_version": run.prompt_version,
        "stage1_version": run.stage1_version,
        "job": job,
    }


def _store_many(
    pairs: list[tuple[Report, StoredFields]], run: Stage2Plan, job: Job | None
) -> list[Stage2Prediction]:
    """Pipeline predictions of a group of reports in one upsert statement (a batch
    stores hundreds of reports a second; not update_or_create's transaction, locking
    read and write per report): created, or replaced for their run key, stored now."""
    if not pairs:
        return []
    now = timezone.now()
    rows, names = [], set()
    for report, fields in pairs:
        values = {
            **_row_values(fields, run, job),
            "purpose": Stage2Prediction.Purpose.PIPELINE,
            "stored_at": now,
        }
        names |= set(values)
        rows.append(Stage2Prediction(report=report, run_key=run.run_key, **values))
    Stage2Prediction.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["report", "run_key"], update_fields=sorted(names)
    )
    return rows


@dataclass(frozen=True, slots=True)
class Stage2Outcome:
    """One report's stored result, as stage2_map_reports hands it back."""

    report: Report
    status: str
    error: str
    seconds: float


def _in_flight_for(run: Stage2Plan, asked: int | None) -> int:
    """How many reports of `run` may be in flight: `asked` (default: the configured
    window of a server backend, one in process) for a concurrent mode, else one."""
    if not stage2_mode_get(run.mode).concurrent:
        return 1
    return asked if asked is not None else stage2_backend.llm_max_in_flight()


def stage2_map_reports(
    reports: Iterable[Report],
    *,
    run: Stage2Plan,
    job: Job | None = None,
    timeout: float,
    retry: RetryPolicy,
    max_in_flight: int | None = None,
) -> Generator[list[Stage2Outcome], None, None]:
    """Map `reports` (of the run's modality) and store every result as a pipeline
    prediction; yields each stored group (the hooks are the caller's: stage2_reports_run
    tells them in its own groups).

    A mode whose `predict` may run concurrently (`Stage2Mode.concurrent`: the LLM modes)
    keeps up to `max_in_flight` reports in flight (default: MAX_IN_FLIGHT on a server
    backend, one on the in-process llama.cpp backend); the others run one at a time.
    Each report keeps its own time limit and retries. Hints (database reads) are read on
    this thread as reports enter the window; what arrives is stored in one upsert per
    group while the next requests run. The rows are those of a sequential run: each
    depends on its report alone. LLMConfigError stops the run (the reports in flight
    finish first, unstored)."""
    mode = stage2_mode_get(run.mode)
    max_in_flight = _in_flight_for(run, max_in_flight)
    if max_in_flight == 1:
        yield from _map_grouped(mode, reports, run=run, job=job, timeout=timeout, retry=retry)
        return

    def hinted() -> Iterator[tuple[Report, list[str] | None]]:
        for report in reports:
            yield report, mode.hint(report, run)

    def work(item: tuple[Report, list[str] | None]) -> tuple[Report, StoredFields]:
        report, hint = item
        return report, _predict_hinted(mode, report, run, timeout, retry, hint)

    # Four windows read ahead: the threads keep going while this thread stores a group
    # and, every window's worth or 2 s, waits on review's batched sync (tens of ms).
    for done in in_flight(work, hinted(), max_in_flight=max_in_flight, read_ahead=4 * max_in_flight):
        yield _stored([pair for _, pair in done], run, job)


def _map_grouped(
    mode: Stage2Mode[Any],
    reports: Iterable[Report],
    *,
    run: Stage2Plan,
    job: Job | None,
    timeout: float,
    retry: RetryPolicy,
) -> Generator[list[Stage2Outcome], None, None]:
    """stage2_map_reports one report at a time (a mode that runs no report concurrently,
    or one request in flight), a group at a time: the mode's inputs for GROUP_REPORTS
    reports are read in one query (`Stage2Mode.prefetch`), and what is mapped is stored
    in one upsert per group, or sooner when GROUP_SECONDS have passed (a report that
    asks an LLM takes seconds), and after a report that found the server unreachable
    (the caller counts those). A stop (LLMConfigError) still stores and yields what was
    mapped before it."""
    group: list[Report] = []
    for report in reports:
        group.append(report)
        if len(group) >= GROUP_REPORTS:
            yield from _map_group(mode, group, run=run, job=job, timeout=timeout, retry=retry)
            group = []
    if group:
        yield from _map_group(mode, group, run=run, job=job, timeout=timeout, retry=retry)


def _map_group(
    mode: Stage2Mode[Any],
    group: list[Report],
    *,
    run: Stage2Plan,
    job: Job | None,
    timeout: float,
    retry: RetryPolicy,
) -> Generator[list[Stage2Outcome], None, None]:
    inputs = mode.prefetch(group, run)
    pairs: list[tuple[Report, StoredFields]] = []
    since = time.monotonic()
    failure: BaseException | None = None
    for report in group:
        extra = {"inputs": inputs[report.pk]} if report.pk in inputs else {}
        try:
            fields = _predict_hinted(mode, report, run, timeout, retry, mode.hint(report, run), **extra)
        except Exception as exc:  # a configuration error: store what was mapped, then stop
            failure = exc
            break
        pairs.append((report, fields))
        # An unreachable server is the caller's to count (it stops after a few in a row).
        unreachable = str(fields.get("error") or "").startswith(UNREACHABLE_PREFIX)
        if unreachable or time.monotonic() - since >= GROUP_SECONDS:
            yield _stored(pairs, run, job)
            pairs, since = [], time.monotonic()
    if pairs:
        yield _stored(pairs, run, job)
    if failure is not None:
        raise failure


def _stored(
    pairs: list[tuple[Report, StoredFields]], run: Stage2Plan, job: Job | None
) -> list[Stage2Outcome]:
    _store_many(pairs, run, job)
    return [
        Stage2Outcome(report, str(f["status"]), str(f.get("error") or ""), float(f.get("seconds") or 0))
        for report, f in pairs
    ]


# -- a cohort, as a background job --------------------------------------------------------


STAGE1_ANY, STAGE1_WITH, STAGE1_WITHOUT = "", "with", "without"


class Stage2HintMissing(Stage2Conflict):
    """A "with hint" run over reports the active stage 1 model has not predicted: refused
    unless the admin confirms running those without a hint."""

    def __init__(self, message: str, *, missing: int, total: int) -> None:
        super().__init__(message)
        self.missing, self.total = missing, total


@dataclass(frozen=True, slots=True)
class Cohort:
    """Which reports of one modality a batch covers. Empty filters select everything:
    a date range, patients, the source (the system or file reports came from) or the
    import job that brought them, whether the active stage 1 model has predicted them
    (`stage1`: "with", "without" or "" for either), and `only_missing` (not yet mapped)
    leaves out reports that already have a successful prediction of the run key.
    `report_ids` is for scripts and the demo (the screens select by filters)."""

    modality: str
    date_from: date | None = None
    date_to: date | None = None
    patient_ids: tuple[str, ...] = ()
    report_ids: tuple[int, ...] = ()
    only_missing: bool = False
    source: str = ""
    import_job: int | None = None
    stage1: str = STAGE1_ANY

    def as_params(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "patient_ids": list(self.patient_ids),
            "report_ids": list(self.report_ids),
            "only_missing": self.only_missing,
            "source": self.source,
            "import_job": self.import_job,
            "stage1": self.stage1,
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
            source=params.get("source") or "",
            import_job=int(params["import_job"]) if params.get("import_job") else None,
            stage1=params.get("stage1") or STAGE1_ANY,
        )


def cohort_reports(cohort: Cohort, *, run_key: str = "") -> QuerySet[Report]:
    """The cohort's current reports (not superseded ones), by id. `only_missing` needs
    the run key; without one (the form's live count) it is left to the caller."""
    reports = Report.objects.current().filter(modality__code=cohort.modality)
    tz = timezone.get_current_timezone()
    if cohort.date_from:
        reports = reports.filter(study_datetime__gte=datetime.combine(cohort.date_from, dtime.min, tz))
    if cohort.date_to:
        reports = reports.filter(study_datetime__lte=datetime.combine(cohort.date_to, dtime.max, tz))
    if cohort.patient_ids:
        reports = reports.filter(patient_id__in=cohort.patient_ids)
    if cohort.report_ids:
        reports = reports.filter(pk__in=cohort.report_ids)
    if cohort.source:
        reports = reports.filter(source=cohort.source)
    if cohort.import_job:
        reports = reports.filter(import_job_id=cohort.import_job)
    if cohort.stage1 in (STAGE1_WITH, STAGE1_WITHOUT):
        predicted = _stage1_predicted(cohort.modality)
        reports = (
            reports.filter(pk__in=predicted)
            if cohort.stage1 == STAGE1_WITH
            else reports.exclude(pk__in=predicted)
        )
    if cohort.only_missing and run_key:
        done = Stage2Prediction.objects.filter(run_key=run_key, status=Stage2Prediction.Status.OK)
        reports = reports.exclude(pk__in=done.values("report_id"))
    return reports.order_by("pk")


def _stage1_predicted(modality_code: str) -> QuerySet[Stage1Prediction, Any]:
    """Report ids the modality's active stage 1 model has predicted (none without one)."""
    version = model_version_active(modality=modality_code)
    rows = (
        Stage1Prediction.objects.filter(model_version=version) if version else Stage1Prediction.objects.none()
    )
    return rows.values("report_id")


def hint_shortfall(cohort: Cohort, *, run_key: str = "") -> tuple[int, int]:
    """(reports of the cohort without a stage 1 prediction of the active model, all of them)."""
    reports = cohort_reports(cohort, run_key=run_key)
    total = reports.count()
    missing = reports.exclude(pk__in=_stage1_predicted(cohort.modality)).count()
    return missing, total


def hint_refusal(missing: int, total: int, *, modality: Modality) -> str:
    version = model_version_active(modality=modality)
    why = (
        f"{modality.code} has no active stage 1 model"
        if version is None
        else f"the active {modality.code} stage 1 model ({version}) has not predicted them"
    )
    return (
        f"{missing} of the {total} selected reports have no stage 1 prediction: {why}, so "
        '"with hint" would map them without a hint. Run stage 1 on them first, select '
        '"has stage 1 predictions", or confirm mapping them without a hint.'
    )


def stage2_job_create(*, cohort: Cohort, mode: str, user: Any = None, without_hint: bool = False) -> Job:
    """Check the request and create the job (the caller enqueues it). The run key is
    fixed now, so a resumed job keeps writing the same rows. A mode that shows the LLM
    stage 1's keys (llm_hint) over reports stage 1 has not predicted raises
    Stage2HintMissing unless `without_hint` confirms mapping those without a hint.
    Raises Stage2Error or LLMConfigError with a message for the admin."""
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
    params: dict[str, Any] = {
        "mode": mode,
        "run_key": run.run_key,
        "cohort": cohort.as_params(),
        "planned_reports": total,
    }
    if stage2_mode_get(mode).wants_hint:
        missing, _ = hint_shortfall(cohort, run_key=run.run_key)
        if missing and not without_hint:
            raise Stage2HintMissing(
                hint_refusal(missing, total, modality=modality), missing=missing, total=total
            )
        params["reports_without_hint"] = missing  # confirmed by the admin (0: every report has one)
    params["pinned"] = inputs  # what a resumed job reads (stage2_modes.pinning)
    title = f"Stage 2 ({mode}) on {total} {modality.code} report(s)"
    return job_create(kind=Job.Kind.INFER, title=title, params=params, user=user)


CHUNK_BODY = "inference.services.stage2.stage2_chunk"
# Reports per chunk: an LLM takes seconds a report, so a chunk is a few minutes of work
# (JOBS_CHUNK_SIZE for the modes that call no LLM).
LLM_CHUNK_SIZE = 20
# Review hears of stored reports in groups (one batched sync): at most this many (with
# requests in flight, at most a window's worth), or this many seconds after the first.
NOTIFY_REPORTS = 100
NOTIFY_SECONDS = 2.0

_backend_override: list[BackendFor] = []  # stage2_job_work(backend_for=...) for this process's chunks
_plans: dict[tuple[int, float], Stage2Plan] = {}  # job -> its plan, for the chunks this process runs


def stage2_job_work(job: Job, *, backend_for: BackendFor | None = None) -> dict[str, Any]:
    """Run the job's cohort in chunks (jobs.chunks) any worker of its queue may run;
    resumable: a resumed job keeps its snapshot, and reports this job already stored
    are skipped. The schema, rules and stage 1 version are those the job started with
    (pinned), so a resumed job writes the same rows; only an LLM change moves its run
    key, which is recorded on the job, not a failure."""
    _backend_override[:] = [backend_for] if backend_for is not None else []
    _plans.pop(_plan_key(job), None)
    try:
        with pinned(job.params.get("pinned")):
            run = _job_plan(job)
            if run.run_key != job.params["run_key"]:
                job_log(
                    job_id=job.pk,
                    line="the LLM or prompt changed since this job started; the remaining reports use "
                    f"the new configuration (run key {run.run_key!r})",
                )
            size = _llm_chunk_size(run) if _asks_llm(run) else None
            return chunked_job_work(job, body=CHUNK_BODY, plan=_job_cohort, finish=_job_finish, size=size)
    finally:
        _backend_override.clear()
        _plans.pop(_plan_key(job), None)


def _asks_llm(run: Stage2Plan) -> bool:
    """Whether the run's reports may each wait for an LLM (small chunks then): the LLM
    modes, and a combined run whose question policy asks something."""
    if run.mode == "rules":
        return False
    if run.mode == "combined":
        policy = getattr(getattr(run, "extractor", None), "policy", None)
        return bool(policy is not None and policy.asked)
    return True


def _llm_chunk_size(run: Stage2Plan) -> int:
    """STAGE2_CHUNK_SIZE, and with requests in flight at least four windows' worth: a
    chunk smaller than the window leaves the server idle at every chunk's end."""
    size = int(getattr(settings, "STAGE2_CHUNK_SIZE", LLM_CHUNK_SIZE))
    if stage2_mode_get(run.mode).concurrent:
        size = max(size, 4 * stage2_backend.llm_max_in_flight())
    return size


def _job_plan(job: Job) -> Stage2Plan:
    """The job's plan, built once per process (an LLM backend is built, not loaded)."""
    run = _plans.get(_plan_key(job))
    if run is None:
        modality = Modality.objects.get(code=job.params["cohort"]["modality"])
        backend_for = _backend_override[0] if _backend_override else None
        run = stage2_plan(modality=modality, mode=job.params["mode"], backend_for=backend_for)
        if len(_plans) > 4:
            _plans.clear()
        _plans[_plan_key(job)] = run
    return run


def _plan_key(job: Job) -> tuple[int, float]:
    return job.pk, job.created_at.timestamp()  # test databases reuse ids


def _job_cohort(job: Job) -> list[tuple[str, list[int]]]:
    """The snapshot: the cohort's report ids when the job first starts."""
    cohort = Cohort.from_params(job.params["cohort"])
    reports = cohort_reports(cohort, run_key=job.params["run_key"])
    return [(cohort.modality, list(reports.values_list("pk", flat=True)))]


def stage2_chunk(job: Job, chunk: JobChunk) -> None:
    """One chunk: map its reports this job has not stored yet, one after another (each
    stored as it comes, under its run key: a redone chunk overwrites its own rows),
    then mark it done with its counts."""
    with pinned(job.params.get("pinned")):
        run = _job_plan(job)
        ids = list(chunk.report_ids)
        mine = set(
            Stage2Prediction.objects.filter(job=job, report_id__in=ids).values_list("report_id", flat=True)
        )
        reports = list(
            Report.objects.filter(pk__in=[i for i in ids if i not in mine])
            .select_related("modality")
            .order_by("pk")
        )
        resumed = len(ids) - len(reports)
        counts = stage2_reports_run(
            job=job,
            run=run,
            reports=reports,
            progress=lambda n: chunk_progress(
                chunk, done=resumed + n, message=f"{run.mode}: chunk {chunk.index}"
            ),
        )
        with chunk_writes(chunk) as stored:
            stored.update(reports=len(ids), resumed=resumed, **counts)


def stage2_reports_run(
    *,
    job: Job | None,
    run: Stage2Plan,
    reports: list[Report],
    progress: Callable[[int], None] | None = None,
    max_in_flight: int | None = None,
) -> dict[str, int]:
    """Map `reports` with `run` and store the predictions as they come (with requests
    in flight in the LLM modes on a server: stage2_map_reports); review hears of them
    in groups. Returns the counts: ok, failed, ms (the reports' seconds, summed, in
    milliseconds). Raises LLMUnavailable when the server stayed unreachable for
    MAX_CONSECUTIVE_UNAVAILABLE reports in a row."""
    config = stage2_backend.llm_settings()
    retry = RetryPolicy(retries=config.retries, backoff=config.retry_backoff)
    window = _in_flight_for(run, max_in_flight)
    # With requests in flight the threads keep the window full while this thread syncs,
    # so only the last sync, after the last answer, holds the run up: syncing every
    # window's worth keeps it small (16 in flight on the fake server: 60-110 ms for the
    # chunk's 96 reports at once, ~20 ms for the last 16). One report at a time, every
    # sync holds the next report up, so they stay few.
    notify_reports = NOTIFY_REPORTS if window == 1 else min(NOTIFY_REPORTS, window)
    counts = {"ok": 0, "failed": 0, "ms": 0}
    unavailable_streak = 0
    stored: list[Report] = []
    since = time.monotonic()
    done = 0
    groups = stage2_map_reports(
        reports, run=run, job=job, timeout=config.report_timeout, retry=retry, max_in_flight=window
    )
    try:
        for group in groups:
            for outcome in group:
                done += 1
                stored.append(outcome.report)
                ok = outcome.status == Stage2Prediction.Status.OK
                counts["ok" if ok else "failed"] += 1
                counts["ms"] += round(outcome.seconds * 1000)
                unreachable = outcome.error.startswith(UNREACHABLE_PREFIX)
                unavailable_streak = unavailable_streak + 1 if unreachable else 0
                if not ok and job is not None:
                    # The error names no report text (validation errors quote JSON paths only).
                    job_log(job_id=job.pk, line=f"report {outcome.report.pk}: failed: {outcome.error[:200]}")
                if unavailable_streak >= MAX_CONSECUTIVE_UNAVAILABLE:
                    raise LLMUnavailable(
                        f"{unavailable_streak} reports in a row could not reach the LLM server; "
                        "the job stopped (run it again to resume). Last error: " + outcome.error[:300]
                    )
            if len(stored) >= notify_reports or time.monotonic() - since >= NOTIFY_SECONDS:
                hooks.stage2_stored_many(stored)
                stored, since = [], time.monotonic()
                if progress is not None:
                    progress(done)
    finally:
        groups.close()  # a stop waits for the requests in flight
        if stored:
            hooks.stage2_stored_many(stored)
    return counts


def _job_finish(job: Job, chunks: list[JobChunk]) -> dict[str, Any]:
    run = _job_plan(job)
    counts = chunk_counts_sum(chunks)
    total = sum(len(c.report_ids) for c in chunks)
    if counts.get("resumed"):
        job_log(job_id=job.pk, line=f"resumed: {counts['resumed']} report(s) already done by this job")
    changed = (
        []
        if run.run_key == job.params["run_key"]
        else [f"run key {job.params['run_key']!r} -> {run.run_key!r}"]
    )
    mapped = counts.get("ok", 0) + counts.get("failed", 0)
    return {
        "run_key": run.run_key,
        "mode": run.mode,
        "modality": run.modality.code,
        "reports": total,
        "ok": counts.get("ok", 0),
        "failed": counts.get("failed", 0),
        "resumed": counts.get("resumed", 0),
        **({"version_changes": changed} if changed else {}),
        "seconds_per_report": round(counts.get("ms", 0) / 1000 / mapped, 3) if mapped else None,
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

"""Stage 2 (relationship mapping) on stored reports: one report now, or a cohort in a job.

    run = stage2_plan(modality=modality, mode="llm_hint")        # run key, model, prompt version
    prediction = stage2_predict_report(report=report, mode="llm_hint")   # sync (review page, API)
    stage2_job_create(...) / stage2_job_work(job)                  # the Celery batch (tasks/stage2.py)

Modes: "llm" (no hint), "llm_hint" (stage 1's stored prediction of the active
model for the report's modality as the "### Target ...:" line; no hint when there
is none), "rules" (the same-sentence baseline) and "combined" (chest CT only: the
rule engine, stage 1 where the lexicon is silent, the LLM only for the findings
that need it; see services/combined.py). Every result is one
Stage2Prediction per (report, run key); the run key names the mode, modality,
schema version, LLM, prompt version and stage 1 version, so a rerun overwrites
its own rows and never mixes with another configuration's.

Nothing is lost: a model output that fails validation, a report that passes
its time limit, or a server that stays unreachable after the retries is stored
as status "failed" with the error (and the raw output, when there was one).
Only a configuration error (no model file, no server URL) stops a batch, since
every other report would fail the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from annotations.models import EntityKey, EntityType, EntityValue, Modality, Report
from annotations.selectors import site_detector
from inference.ml.baseline import brain_mri_baseline, chest_ct_baseline
from inference.ml.llm.backends import LLMBackend, LLMConfigError, LLMError, LLMUnavailable
from inference.ml.llm.mapping import BrainMriMapper, ChestCtMapper, Finding, MappingResult
from inference.ml.llm.schemas import BrainKeys, ChestKeys
from inference.ml.text.lexicon import Lexicon, lexicon_values
from inference.ml.text.matcher import Matcher
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from inference.services import stage2_backend
from jobs.models import Job
from jobs.services import job_create, job_log, job_progress

logger = logging.getLogger(__name__)

MODES = ("llm", "llm_hint", "rules", "combined")
LLM_MODES = ("llm", "llm_hint")
COMBINED_MODALITIES = ("chest_ct",)
COMBINED_CHEST_ONLY = (
    "The combined mode is for chest CT only; map brain MRI reports with llm, llm_hint or rules."
)
TASKS = {"chest_ct": "chest_ct_relations", "brain_mri": "brain_mri"}
# Bumped when the rule baseline's behaviour changes (part of the rules run key).
RULES_VERSION = "same-sentence-2"  # 2: the text engine's matcher and segmentation
# A batch stops when this many reports in a row found the server unreachable:
# the server is down, and the job is better failed (and resumed later) than
# filled with failures.
MAX_CONSECUTIVE_UNAVAILABLE = 3

Mapper = ChestCtMapper | BrainMriMapper
BackendFor = Callable[[str], LLMBackend]


class Stage2Error(ValueError):
    """Bad input for a stage 2 run (unknown mode, modality without a stage 2 task)."""


# -- schema of a modality, as the ML library wants it -----------------------------------


@dataclass(frozen=True, slots=True)
class ModalitySchema:
    code: str
    version: int
    keys: ChestKeys | BrainKeys
    lexicon: Lexicon

    @property
    def finding_keys(self) -> tuple[str, ...]:
        """The keys stage 1 predicts that stage 2 takes as its hint."""
        if isinstance(self.keys, ChestKeys):
            return self.keys.lesions
        return (*self.keys.diagnoses, *self.keys.non_tumor)


def modality_schema(modality: Modality) -> ModalitySchema:
    """Keys and entity values of the modality from the database schema. A schema
    that lacks a part the task needs falls back to the default key list for it."""
    if modality.code not in TASKS:
        raise Stage2Error(f"no stage 2 task for modality {modality.code!r}; known: {', '.join(TASKS)}")
    keys = list(
        EntityKey.objects.filter(entity_type__modality=modality, is_active=True)
        .select_related("entity_type", "implicit_location", "parent")
        .order_by("entity_type__order", "order", "name")
    )
    by_role: dict[str, list[EntityKey]] = {}
    for key in keys:
        by_role.setdefault(key.entity_type.role, []).append(key)
    names = lambda role: tuple(k.name for k in by_role.get(role, ()))  # noqa: E731
    lexicon: dict[str, list[tuple[str, str]]] = {}
    for name, text, kind in EntityValue.objects.filter(
        key__entity_type__modality=modality, key__is_active=True
    ).values_list("key__name", "text", "kind"):
        lexicon.setdefault(name, []).append((text, kind))
    schema_keys: ChestKeys | BrainKeys
    if modality.code == "chest_ct":
        defaults = ChestKeys()
        implicit = {k.name: k.implicit_location.name for k in keys if k.implicit_location is not None}
        schema_keys = ChestKeys(
            lesions=names(EntityType.Role.FINDING) or defaults.lesions,
            locations=names(EntityType.Role.LOCATION) or defaults.locations,
            implicit=implicit or defaults.implicit,
        )
    else:
        schema_keys = _brain_keys(by_role)
    return ModalitySchema(modality.code, modality.schema_version, schema_keys, lexicon)


def _brain_keys(by_role: dict[str, list[EntityKey]]) -> BrainKeys:
    defaults = BrainKeys()
    findings = by_role.get(EntityType.Role.FINDING, [])
    details = by_role.get(EntityType.Role.DETAIL, [])
    episodes = tuple(k.name for k in by_role.get(EntityType.Role.EPISODE, ()))
    malignant = tuple(k.name for k in findings if k.pairs_with_id is not None)
    parents = {d.parent.name for d in details if d.parent is not None}
    other = next((k.name for k in findings if k.name in parents), None)
    rest = [k.name for k in findings if k.name not in malignant and k.name != other]
    if not (malignant and other and rest and episodes):
        return defaults
    return BrainKeys(
        malignant=malignant,
        non_malignant=rest[0],
        other_non_tumor=other,
        non_tumor=tuple(d.name for d in details),
        episodes=episodes,
    )


def _mapper(schema: ModalitySchema, backend_for: BackendFor) -> Mapper:
    lexicon = schema.lexicon or None
    if isinstance(schema.keys, ChestKeys):
        return ChestCtMapper(
            backend_for(ChestCtMapper.template_name),
            keys=schema.keys,
            lexicon=lexicon,
            detector=site_detector(),
        )
    backends = {name: backend_for(name) for name in BrainMriMapper.templates}
    return BrainMriMapper(backends, keys=schema.keys, lexicon=lexicon, detector=site_detector())


# -- the plan of a run: everything its run key names ------------------------------------


@dataclass(slots=True)
class Stage2Run:
    mode: str
    modality: Modality
    schema: ModalitySchema
    run_key: str
    llm_name: str = ""
    llm_info: dict[str, Any] = field(default_factory=dict)
    prompt_version: str = ""
    stage1_version: ModelVersion | None = None
    mapper: Mapper | None = None
    matcher: Matcher | None = None
    combined: Any = None  # services.combined.CombinedPlan (mode "combined")


def active_stage1_version(modality: Modality) -> ModelVersion | None:
    """The active stage 1 model of the modality (the one whose predictions are hints)."""
    return ModelVersion.objects.filter(modality=modality, is_active=True).first()


def stage2_plan(*, modality: Modality, mode: str, backend_for: BackendFor | None = None) -> Stage2Run:
    """Resolve a run: for LLM modes this builds (not loads) the configured backend,
    so a configuration problem raises LLMConfigError here, before any work."""
    if mode not in MODES:
        raise Stage2Error(f"unknown stage 2 mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "combined":
        return _combined_run(modality, backend_for or stage2_backend.llm_backend)
    schema = modality_schema(modality)
    base = f"{mode}|{modality.code}|schema{schema.version}"
    if mode == "rules":
        run = Stage2Run(mode, modality, schema, run_key=f"{base}|{RULES_VERSION}")
        run.matcher = Matcher(lexicon_values(schema.lexicon))
        run.prompt_version = RULES_VERSION
        return run
    mapper = _mapper(schema, backend_for or stage2_backend.llm_backend)
    info = _first_backend(mapper).info()
    stage1 = active_stage1_version(modality) if mode == "llm_hint" else None
    s1 = f"s1:{stage1.pk}" if stage1 else "s1:none"
    llm_name = str(info.get("name", ""))[:150]
    run_key = f"{base}|{llm_name}|{mapper.prompt_version}" + (f"|{s1}" if mode == "llm_hint" else "")
    return Stage2Run(
        mode,
        modality,
        schema,
        run_key=run_key[:300],
        llm_name=llm_name,
        llm_info=info,
        prompt_version=mapper.prompt_version,
        stage1_version=stage1,
        mapper=mapper,
    )


def mode_refusal(mode: str, modality: Modality) -> str | None:
    """Why `mode` cannot map `modality`'s reports, or None (form, API and plan share it)."""
    if mode == "combined" and modality.code not in COMBINED_MODALITIES:
        return COMBINED_CHEST_ONLY
    return None


def _combined_run(modality: Modality, backend_for: BackendFor) -> Stage2Run:
    """The combined extractor's plan as a run. The backend is built now (a
    configuration error stops the request, as in the LLM modes) but not loaded: the
    plan's lazy backend first calls it for a report the rules do not settle."""
    refusal = mode_refusal("combined", modality)
    if refusal:
        raise Stage2Error(refusal)
    # Imported here: services.combined builds on this module.
    from inference.services.combined import PROMPT_VERSION, combined_plan

    backend = backend_for(TASKS["chest_ct"])
    info = backend.info()
    llm_name = str(info.get("name", ""))[:150]
    plan = combined_plan(modality=modality, backend_for=lambda template: backend, llm_name=llm_name)
    plan.extra["llm_info"] = info
    return Stage2Run(
        "combined",
        modality,
        plan.schema,
        run_key=plan.run_key,
        llm_name=llm_name,
        llm_info=info,
        prompt_version=PROMPT_VERSION,
        stage1_version=plan.stage1_version,
        combined=plan,
    )


def _first_backend(mapper: Mapper) -> LLMBackend:
    if isinstance(mapper, ChestCtMapper):
        return mapper.step.backend
    return mapper.steps[mapper.templates[0]].backend


def stage1_hint(report: Report, run: Stage2Run) -> list[str] | None:
    """Stage 1's keys for the report (finding keys only), or None when the active
    model has not predicted it (the LLM then runs without a hint)."""
    if run.mode != "llm_hint" or run.stage1_version is None:
        return None
    stored = Stage1Prediction.objects.filter(report=report, model_version=run.stage1_version).first()
    if stored is None:
        return None
    wanted = set(stored.predicted_keys)
    return [k for k in run.schema.finding_keys if k in wanted]


# -- one report --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 0
    backoff: float = 0.0  # seconds before the first retry, doubled for each next one
    sleep: Callable[[float], None] = time.sleep


def stage2_predict_report(
    *,
    report: Report,
    mode: str,
    run: Stage2Run | None = None,
    job: Job | None = None,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    backend_for: BackendFor | None = None,
) -> Stage2Prediction:
    """Map one report and store the result (created or replaced for its run key).

    `timeout` bounds the report (all LLM steps); by default the configured
    REPORT_TIMEOUT. Raises LLMConfigError for configuration problems and
    Stage2Error for bad input; everything else ends in a stored prediction."""
    run = run or stage2_plan(modality=report.modality, mode=mode, backend_for=backend_for)
    if report.modality_id != run.modality.pk:
        raise Stage2Error(f"report {report.pk} is not a {run.modality.code} report")
    if run.mode == "rules":
        return _store(report, run, job, **_rules_fields(report.text, run))
    limit = timeout if timeout is not None else stage2_backend.llm_settings().report_timeout
    retry = retry or RetryPolicy()
    if run.mode == "combined":
        from inference.services.combined import combined_predict_report

        return combined_predict_report(
            report=report, plan=run.combined, job=job, timeout=limit, retry=retry, strict=True
        )
    hint = stage1_hint(report, run)
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            assert run.mapper is not None
            result = run.mapper.map(report.text, hint=hint, deadline=time.monotonic() + limit)
        except LLMConfigError:
            raise
        except LLMUnavailable as exc:
            if attempt <= retry.retries:
                retry.sleep(retry.backoff * 2 ** (attempt - 1))
                continue
            return _store(report, run, job, **_error_fields(exc, hint, started, attempt, unavailable=True))
        except LLMError as exc:
            return _store(report, run, job, **_error_fields(exc, hint, started, attempt))
        except Exception as exc:  # a bug must not lose the report or stop the batch
            logger.exception("stage 2 failed on report %s", report.pk)
            return _store(report, run, job, **_error_fields(exc, hint, started, attempt))
        fields = _result_fields(result, attempt)
        if result.ok and result.seconds > limit:
            fields |= {"status": Stage2Prediction.Status.FAILED, "error": _timeout_message(limit)}
        return _store(report, run, job, **fields)


def _timeout_message(limit: float) -> str:
    return f"timed out: the report took longer than its limit of {limit:g}s"


def _result_fields(result: MappingResult, attempt: int) -> dict[str, Any]:
    steps = [asdict(step) for step in result.steps]
    raw = (
        result.steps[0].raw
        if len(result.steps) == 1
        else "\n".join(f"# {s['task']}\n{s['raw']}" for s in steps)
    )
    error = result.error or ""
    if "per-report time limit" in error:
        error = "timed out: " + error
    return {
        "status": Stage2Prediction.Status.OK if result.ok else Stage2Prediction.Status.FAILED,
        "messages": steps,
        "raw_output": raw,
        "parsed": result.as_gold() if result.ok else None,
        "findings": [_finding_out(f) for f in result.findings] if result.ok else [],
        "error": error,
        "hint": result.hint,
        "seconds": result.seconds,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "timings": {
            "total": round(result.seconds, 3),
            "steps": {s["task"]: round(s["seconds"], 3) for s in steps},
        },
        "attempts": attempt,
    }


def _finding_out(finding: Finding) -> dict[str, Any]:
    out = asdict(finding)
    for name in ("evidence_span", "episode_evidence_span"):
        out[name] = list(out[name]) if out[name] is not None else None
    return out


def _error_fields(
    exc: BaseException, hint: list[str] | None, started: float, attempt: int, *, unavailable: bool = False
) -> dict[str, Any]:
    seconds = time.perf_counter() - started
    prefix = "LLM server unreachable: " if unavailable else ""
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
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


def _rules_fields(text: str, run: Stage2Run) -> dict[str, Any]:
    started = time.perf_counter()
    assert run.matcher is not None
    predicted = rules_predict(text, run.schema, run.matcher)
    first: dict[str, tuple[int, int]] = {}
    for match in run.matcher.find(text):
        for key in match.keys:
            first.setdefault(str(key), (match.start, match.end))
    findings = []
    for key, value in predicted.get("lesions", predicted.get("diagnoses", {})).items():
        span = first.get(key)
        findings.append(
            {
                "key": key,
                "status": value["status"],
                "kind": "lesion" if "lesions" in predicted else "diagnosis",
                "locations": value.get("locations", []),
                "episode": value.get("episode"),
                "evidence": text[span[0] : span[1]] if span else "",
                "evidence_span": list(span) if span else None,
                "flags": [],
            }
        )
    seconds = time.perf_counter() - started
    return {
        "status": Stage2Prediction.Status.OK,
        "parsed": predicted,
        "findings": findings,
        "seconds": seconds,
        "timings": {"total": round(seconds, 4)},
        "messages": [],
        "raw_output": "",
        "error": "",
        "hint": None,
        "attempts": 1,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


def rules_predict(text: str, schema: ModalitySchema, matcher: Matcher) -> dict[str, Any]:
    """The same-sentence baseline in gold-file shape (SPEC.md "Gold files")."""
    keys = schema.keys
    if isinstance(keys, ChestKeys):
        return chest_ct_baseline(
            text, matcher, lesions=keys.lesions, locations=keys.locations, implicit=keys.implicit
        )
    return brain_mri_baseline(
        text,
        matcher,
        diagnoses=keys.diagnoses,
        malignant=keys.malignant,
        other_non_tumor=keys.other_non_tumor,
        non_tumor=keys.non_tumor,
        episodes=keys.episodes,
    )


def _store(report: Report, run: Stage2Run, job: Job | None, **fields: Any) -> Stage2Prediction:
    """Create or replace the report's prediction for this run key (idempotent)."""
    fields.update(
        mode=run.mode,
        llm_name=run.llm_name,
        llm_info=run.llm_info,
        prompt_version=run.prompt_version,
        stage1_version=run.stage1_version,
        job=job,
    )
    prediction, _ = Stage2Prediction.objects.update_or_create(
        report=report, run_key=run.run_key, defaults=fields
    )
    return prediction


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
    reports = Report.objects.filter(modality__code=cohort.modality)
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
    run = stage2_plan(modality=modality, mode=mode)
    total = cohort_reports(cohort, run_key=run.run_key).count()
    if total == 0:
        raise Stage2Error("no reports match this selection")
    params = {"mode": mode, "run_key": run.run_key, "cohort": cohort.as_params(), "planned_reports": total}
    title = f"Stage 2 ({mode}) on {total} {modality.code} report(s)"
    return job_create(kind=Job.Kind.INFER, title=title, params=params, user=user)


def stage2_job_work(job: Job, *, backend_for: BackendFor | None = None) -> dict[str, Any]:
    """Run the job's cohort; resumable: reports this job already stored are skipped."""
    params = job.params
    cohort = Cohort.from_params(params["cohort"])
    modality = Modality.objects.get(code=cohort.modality)
    run = stage2_plan(modality=modality, mode=params["mode"], backend_for=backend_for)
    if run.run_key != params["run_key"]:
        raise Stage2Error(
            "the LLM configuration, prompt, schema or stage 1 model changed since this job was created "
            f"(run key now {run.run_key!r}); start a new run"
        )
    # Imported here: review depends on inference's models, not the other way round.
    from review.services.sync import sync_report_findings

    config = stage2_backend.llm_settings()
    retry = RetryPolicy(retries=config.retries, backoff=config.retry_backoff)
    reports = cohort_reports(cohort, run_key=run.run_key)
    total = reports.count()
    # A subquery, not a list of ids: a resumed cohort may be larger than SQLite's
    # limit on query parameters.
    mine = Stage2Prediction.objects.filter(run_key=run.run_key, job=job).values("report_id")
    resumed = reports.filter(pk__in=mine).count()
    counts = {"ok": 0, "failed": 0, "resumed": resumed}
    seconds: list[float] = []
    if resumed:
        job_log(job_id=job.pk, line=f"resuming: {resumed} report(s) already done by this job")
    done = resumed
    unavailable_streak = 0
    job_progress(job_id=job.pk, done=done, total=total, message=f"{run.mode}: {done}/{total}")
    for report in reports.exclude(pk__in=mine).select_related("modality").iterator(chunk_size=200):
        prediction = stage2_predict_report(
            report=report, mode=run.mode, run=run, job=job, timeout=config.report_timeout, retry=retry
        )
        ok = prediction.status == Stage2Prediction.Status.OK
        counts["ok" if ok else "failed"] += 1
        # Clinicians see each report in their queue as soon as its findings exist;
        # syncing is idempotent and never touches decided findings.
        sync_report_findings(report)
        seconds.append(prediction.seconds)
        unavailable_streak = (
            unavailable_streak + 1 if prediction.error.startswith("LLM server unreachable") else 0
        )
        if not ok:
            # The error names no report text (validation errors quote JSON paths only).
            job_log(job_id=job.pk, line=f"report {report.pk}: failed: {prediction.error[:200]}")
        if unavailable_streak >= MAX_CONSECUTIVE_UNAVAILABLE:
            raise LLMUnavailable(
                f"{unavailable_streak} reports in a row could not reach the LLM server; "
                "the job stopped (run it again to resume). Last error: " + prediction.error[:300]
            )
        done += 1
        job_progress(job_id=job.pk, done=done, total=total, message=f"{run.mode}: {done}/{total}")
    return {
        "run_key": run.run_key,
        "mode": run.mode,
        "modality": modality.code,
        "reports": total,
        **counts,
        "seconds_per_report": round(sum(seconds) / len(seconds), 3) if seconds else None,
    }


def stage2_predictions(*, report: Report) -> QuerySet[Stage2Prediction]:
    return report.stage2_predictions.select_related("stage1_version").order_by("-created_at")


def stage2_runs(*, limit: int = 20) -> list[Job]:
    """Recent stage 2 jobs (inference jobs whose params carry a stage 2 run key)."""
    jobs = Job.objects.filter(kind=Job.Kind.INFER).order_by("-created_at")[: limit * 3]
    return [j for j in jobs if "run_key" in (j.params or {}) and "cohort" in j.params][:limit]

"""Stage 1 inference: loaded predictors (cached per version), idempotent stored
predictions, cohort inference jobs, and synchronous prediction of one report.

Idempotence and resume: a Stage1Prediction is unique per (report, model version)
and written with bulk_create(ignore_conflicts=True); a job snapshots its cohort's
reports the version has not predicted into chunks (jobs.chunks) that any heavy
worker runs; a redelivered job after a worker restart keeps its chunks and redoes
only those not done, and never writes a report twice. Cancellation is checked
after every chunk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet

from annotations.models import Modality, Report
from inference.models import ModelVersion, Stage1Prediction
from inference.selectors import model_version_active, model_versions_active
from inference.services.stage1_data import Stage1DataError, heldout_report_ids, modality_get, resolve_artifact
from jobs.chunks import chunk_counts_sum, chunk_writes, chunked_job_work
from jobs.models import Job, JobChunk
from jobs.services import job_create, job_log, job_progress

if TYPE_CHECKING:
    from inference.ml.bert import KeyPrediction, Stage1Predictor

BATCH_REPORTS = 256
CACHE_SIZE = 4
PROBABILITY_DIGITS = 6


class Stage1ModelUnavailable(Exception):
    """No usable model: none active, not trained yet, or its directory is missing or corrupt."""


# -- loaded predictors ----------------------------------------------------------------------

_cache: OrderedDict[tuple[int, str], Stage1Predictor] = OrderedDict()  # (version, absolute path)
_cache_lock = threading.Lock()


def predictor_for(version: ModelVersion) -> Stage1Predictor:
    """The loaded predictor of `version`, cached (a few versions, least recently used
    dropped). int8 quantization when settings.STAGE1_QUANTIZE is true (faster on CPU;
    off by default so stored predictions equal the evaluated model's exactly)."""
    from inference.ml.bert import ModelLoadError, Stage1Predictor

    if not version.artifact_path:
        raise Stage1ModelUnavailable(
            f"model version {version.name} has no trained model (status: {version.get_status_display()})"
        )
    path = resolve_artifact(version.artifact_path)
    key = (version.pk, str(path))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        try:
            predictor = Stage1Predictor.load(path, quantize=getattr(settings, "STAGE1_QUANTIZE", False))
        except ModelLoadError as exc:
            raise Stage1ModelUnavailable(f"model version {version.name} cannot be loaded: {exc}") from exc
        _cache[key] = predictor
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return predictor


def predictor_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def active_version(modality: Modality | str | int) -> ModelVersion:
    modality = modality_get(modality)
    version = model_version_active(modality=modality)
    if version is None:
        raise Stage1ModelUnavailable(
            f"no active stage 1 model for {modality.name}: an admin promotes one on the models page"
        )
    return version


# -- stored predictions -----------------------------------------------------------------------


def _row(report_id: int, version: ModelVersion, pred: KeyPrediction) -> Stage1Prediction:
    return Stage1Prediction(
        report_id=report_id,
        model_version=version,
        probabilities={k: round(p, PROBABILITY_DIGITS) for k, p in pred.probs.items()},
        predicted_keys=pred.present_keys,
        truncated=pred.truncated,
    )


def predictions_write(
    version: ModelVersion, predictor: Stage1Predictor, rows: Sequence[tuple[int, str]]
) -> tuple[int, int]:
    """Predict (report id, text) rows and store them (existing rows stay). Returns
    (reports predicted, reports truncated)."""
    objects, truncated = predictions_compute(version, predictor, rows)
    Stage1Prediction.objects.bulk_create(objects, ignore_conflicts=True, batch_size=500)
    return len(objects), truncated


def predictions_compute(
    version: ModelVersion, predictor: Stage1Predictor, rows: Sequence[tuple[int, str]]
) -> tuple[list[Stage1Prediction], int]:
    """The unsaved prediction rows of (report id, text) rows, and how many were truncated."""
    if not rows:
        return [], 0
    predictions = predictor.predict([text for _, text in rows], batch_size=32)
    objects = [_row(rid, version, pred) for (rid, _), pred in zip(rows, predictions, strict=True)]
    return objects, sum(pred.truncated for pred in predictions)


@dataclass
class CohortRun:
    total: int
    done_before: int
    written: int = 0
    truncated: int = 0


def cohort_predict(
    version: ModelVersion,
    reports: QuerySet[Report],
    *,
    progress: Callable[[CohortRun], None] | None = None,
    batch_size: int = BATCH_REPORTS,
) -> CohortRun:
    """Predict every report of `reports` that `version` has not predicted yet."""
    predictor = predictor_for(version)
    todo = reports.exclude(stage1_predictions__model_version=version)
    total = reports.count()
    run = CohortRun(total=total, done_before=total - todo.count())
    last_id = 0
    while True:
        rows = list(todo.filter(pk__gt=last_id).order_by("pk").values_list("pk", "text")[:batch_size])
        if not rows:
            break
        last_id = rows[-1][0]
        written, truncated = predictions_write(version, predictor, rows)
        run.written += written
        run.truncated += truncated
        if progress is not None:
            progress(run)
    return run


def heldout_predict(version: ModelVersion, *, job_id: int | None = None) -> list[int]:
    """Store `version`'s predictions for every held-out gold report of its modality
    (missing ones only); returns the held-out ids."""
    ids = heldout_report_ids(version.modality)
    cohort_predict(version, Report.objects.filter(pk__in=ids))
    return ids


# -- cohort inference jobs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """Which reports an inference run covers; empty fields do not filter. Reports the
    chosen version already predicted are always skipped, so "everything not yet
    predicted by the active model" is the cohort with no filter."""

    modalities: list[str] = field(default_factory=list)  # empty: every modality with an active model
    date_from: date | None = None
    date_to: date | None = None
    patient_ids: list[str] = field(default_factory=list)

    def queryset(self, modality: Modality) -> QuerySet[Report]:
        reports = Report.objects.current().filter(modality=modality)  # never a superseded revision
        if self.date_from:
            reports = reports.filter(study_datetime__date__gte=self.date_from)
        if self.date_to:
            reports = reports.filter(study_datetime__date__lte=self.date_to)
        if self.patient_ids:
            reports = reports.filter(patient_id__in=self.patient_ids)
        return reports

    def to_params(self) -> dict[str, Any]:
        return {
            "modalities": self.modalities,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "patient_ids": self.patient_ids,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Cohort:
        return cls(
            modalities=list(params.get("modalities") or []),
            date_from=date.fromisoformat(params["date_from"]) if params.get("date_from") else None,
            date_to=date.fromisoformat(params["date_to"]) if params.get("date_to") else None,
            patient_ids=list(params.get("patient_ids") or []),
        )


def inference_job_create(
    *, cohort: Cohort, model_version: ModelVersion | None = None, user: Any = None
) -> Job:
    """Fix which version predicts each modality now (a promotion during the run
    does not switch models half-way) and create the job. Stage1DataError if no
    modality in scope has a usable model."""
    if cohort.date_from and cohort.date_to and cohort.date_from > cohort.date_to:
        raise Stage1DataError("the start date is after the end date")
    versions: dict[str, int] = {}
    if model_version is not None:
        if model_version.status != ModelVersion.Status.READY:
            raise Stage1DataError(
                f"{model_version.name} is not ready (status: {model_version.get_status_display()})"
            )
        if cohort.modalities and cohort.modalities != [model_version.modality.code]:
            raise Stage1DataError(f"{model_version.name} is a {model_version.modality.code} model")
        versions[model_version.modality.code] = model_version.pk
    else:
        active = model_versions_active().select_related("modality")
        if cohort.modalities:
            active = active.filter(modality__code__in=cohort.modalities)
        versions = {v.modality.code: v.pk for v in active}
        missing = sorted(set(cohort.modalities) - set(versions))
        if missing:
            raise Stage1DataError(f"no active stage 1 model for {', '.join(missing)}; promote one first")
        if not versions:
            raise Stage1DataError("no modality has an active stage 1 model; promote one first")
    params = {**cohort.to_params(), "versions": versions}
    names = ", ".join(f"{code} v{pk}" for code, pk in sorted(versions.items()))
    return job_create(kind=Job.Kind.INFER, title=f"Stage 1 inference: {names}", params=params, user=user)


CHUNK_BODY = "inference.services.stage1_inference.inference_chunk"


def inference_job_work(job: Job) -> dict[str, Any]:
    """The task body (tasks.stage1.stage1_infer_task through jobs.services.job_run): the
    reports each version has not predicted yet, in chunks (jobs.chunks) any heavy
    worker may run."""
    job_progress(job_id=job.pk, done=0, message="planning")
    return chunked_job_work(job, body=CHUNK_BODY, plan=_job_plan, finish=_job_finish)


def _job_plan(job: Job) -> list[tuple[str, list[int]]]:
    """The snapshot: per version, the cohort's reports it has not predicted yet. The
    cohort's size and what was already predicted are kept for the result (first start
    only: a resumed job keeps its snapshot and these numbers)."""
    cohort = Cohort.from_params(job.params)
    groups, sizes = [], {}
    for code, pk in sorted(job.params["versions"].items()):
        version = ModelVersion.objects.select_related("modality").get(pk=pk)
        reports = cohort.queryset(version.modality)
        todo = list(
            reports.exclude(stage1_predictions__model_version=version)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        total = reports.count()
        sizes[code] = {"cohort": total, "already_predicted": total - len(todo)}
        groups.append((str(version.pk), todo))
    if "plan" not in (job.result or {}):
        Job.objects.filter(pk=job.pk).update(result={"plan": sizes})
    return groups


def inference_chunk(job: Job, chunk: JobChunk) -> None:
    """One chunk: predict its reports the version has not predicted yet (outside any
    transaction), then store them with the chunk's counts in one transaction."""
    version = ModelVersion.objects.select_related("modality").get(pk=int(chunk.group))
    predictor = predictor_for(version)
    ids = list(chunk.report_ids)
    done = set(
        Stage1Prediction.objects.filter(model_version=version, report_id__in=ids).values_list(
            "report_id", flat=True
        )
    )
    rows = list(
        Report.objects.filter(pk__in=[i for i in ids if i not in done])
        .order_by("pk")
        .values_list("pk", "text")
    )
    objects, truncated = predictions_compute(version, predictor, rows)
    with chunk_writes(chunk) as counts:
        Stage1Prediction.objects.bulk_create(objects, ignore_conflicts=True, batch_size=500)
        counts.update(reports=len(ids), written=len(objects), truncated=truncated, already=len(done))


def _job_finish(job: Job, chunks: list[JobChunk]) -> dict[str, Any]:
    plan = (Job.objects.values_list("result", flat=True).get(pk=job.pk) or {}).get("plan", {})
    out = {}
    for code, pk in sorted(job.params["versions"].items()):
        version = ModelVersion.objects.get(pk=pk)
        counts = chunk_counts_sum(chunks, group=str(pk))
        sizes = plan.get(code, {})
        written, truncated = counts.get("written", 0), counts.get("truncated", 0)
        already = int(sizes.get("already_predicted", 0)) + counts.get("already", 0)
        job_log(
            job_id=job.pk,
            line=f"{version.name}: {written} reports predicted now, {already} already done, "
            f"{truncated} truncated to the model's length",
        )
        out[code] = {
            "model_version": pk,
            "cohort": int(sizes.get("cohort", written + already)),
            "predicted_now": written,
            "already_predicted": already,
            "truncated": truncated,
        }
    return out


# -- one report, synchronously --------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPrediction:
    model_version_id: int
    model_name: str
    probabilities: dict[str, float]
    predicted_keys: list[str]
    thresholds: dict[str, float]
    truncated: bool
    warnings: list[str]
    stored: bool  # read from an earlier run rather than computed now

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version_id,
            "model_name": self.model_name,
            "probabilities": self.probabilities,
            "predicted_keys": self.predicted_keys,
            "thresholds": self.thresholds,
            "truncated": self.truncated,
            "warnings": self.warnings,
            "stored": self.stored,
        }


def predict_report(
    report: Report, *, version: ModelVersion | None = None, store: bool = True
) -> ReportPrediction:
    """Stage 1 for one report with the active version of its modality (or `version`):
    the stored prediction when there is one, else computed now (and stored). Raises
    Stage1ModelUnavailable with a message for the user when no model can answer."""
    version = version or active_version(report.modality_id)
    existing = Stage1Prediction.objects.filter(report=report, model_version=version).first()
    if existing is not None:
        return ReportPrediction(
            model_version_id=version.pk,
            model_name=version.name,
            probabilities=existing.probabilities,
            predicted_keys=list(existing.predicted_keys),
            thresholds=version.thresholds,
            truncated=existing.truncated,
            warnings=["report truncated to the model's maximum length"] if existing.truncated else [],
            stored=True,
        )
    pred = predictor_for(version).predict_one(report.text)
    if store:
        Stage1Prediction.objects.bulk_create([_row(report.pk, version, pred)], ignore_conflicts=True)
    return ReportPrediction(
        model_version_id=version.pk,
        model_name=version.name,
        probabilities={k: round(p, PROBABILITY_DIGITS) for k, p in pred.probs.items()},
        predicted_keys=pred.present_keys,
        thresholds=version.thresholds,
        truncated=pred.truncated,
        warnings=list(pred.warnings),
        stored=False,
    )

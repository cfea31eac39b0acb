"""Stage 1 inference: loaded predictors (cached per version), idempotent stored
predictions, cohort inference jobs, and synchronous prediction of one report.

Idempotence and resume: a Stage1Prediction is unique per (report, model version)
and written with bulk_create(ignore_conflicts=True); a job walks its cohort in
ascending report id and skips every report the version already predicted, so a
redelivered job after a worker restart continues where the last one stopped and
never writes a report twice. Cancellation is checked after every batch.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet

from annotations.models import Modality, Report
from inference.models import ModelVersion, Stage1Prediction
from inference.selectors import model_version_active, model_versions_active
from inference.services.stage1_data import Stage1DataError, heldout_report_ids, modality_get, resolve_artifact
from jobs.models import Job
from jobs.selectors import format_duration
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
    if not rows:
        return 0, 0
    predictions = predictor.predict([text for _, text in rows], batch_size=32)
    objects = [_row(rid, version, pred) for (rid, _), pred in zip(rows, predictions, strict=True)]
    Stage1Prediction.objects.bulk_create(objects, ignore_conflicts=True, batch_size=500)
    return len(objects), sum(pred.truncated for pred in predictions)


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


def inference_job_work(job: Job) -> dict[str, Any]:
    """The task body (tasks.stage1.stage1_infer_task through jobs.services.job_run)."""
    cohort = Cohort.from_params(job.params)
    plan = []
    for _code, pk in sorted(job.params["versions"].items()):
        version = ModelVersion.objects.select_related("modality").get(pk=pk)
        plan.append((version, cohort.queryset(version.modality)))
    grand_total = sum(reports.count() for _, reports in plan)
    offset, written_before, started, out = 0, 0, time.monotonic(), {}
    job_progress(job_id=job.pk, done=0, total=grand_total, message="loading the model")
    for version, reports in plan:

        def progress(
            run: CohortRun, offset: int = offset, before: int = written_before, name: str = version.name
        ) -> None:
            done = offset + run.done_before + run.written
            # The rate counts reports predicted by this attempt only (not those a
            # previous worker finished), so the ETA is right after a resume too.
            rate = (before + run.written) / max(time.monotonic() - started, 1e-6)
            eta = format_duration(timedelta(seconds=(grand_total - done) / max(rate, 1e-6)))
            message = f"{name}: {done}/{grand_total} reports, {rate:.0f} reports/s, ETA {eta}"
            job_progress(job_id=job.pk, done=done, total=grand_total, message=message)

        run = cohort_predict(version, reports, progress=progress)
        offset += run.total
        written_before += run.written
        job_log(
            job_id=job.pk,
            line=f"{version.name}: {run.written} reports predicted now, {run.done_before} already done, "
            f"{run.truncated} truncated to the model's length",
        )
        out[version.modality.code] = {
            "model_version": version.pk,
            "cohort": run.total,
            "predicted_now": run.written,
            "already_predicted": run.done_before,
            "truncated": run.truncated,
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

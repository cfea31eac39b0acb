"""Reads of the inference app that answer one domain question each, for every app
that asks it (review, export, analytics, the demo, inference's own services).

    model_version_active(modality=chest_ct)           # the active stage 1 model, or None
    model_versions_active()                            # every modality's active model
    stage1_current_prediction(report=report)           # the stage 1 prediction that stands
    stage1_current_predictions(report_ids=[...])       # the same, report id -> prediction
    stage2_current_prediction(report=report)           # the stage 2 prediction that stands
    stage2_current_predictions(report_ids=[...])       # the same, report id -> prediction
    stage2_latest_pipeline_attempt(report=report)      # the pipeline's last try, any status
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import QuerySet

from annotations.models import Modality, Report
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from inference.services.stage2_modes.registry import pipeline_mode_names

# Columns no reader of "the current prediction" needs (the prompts and raw output are
# the provenance view's, read by primary key): left out of the bulk query.
HEAVY_FIELDS = ("messages", "raw_output", "parsed", "llm_info")


# A resumed job plans with the stage 1 version it started with (stage2_modes.pinning).
_PINNED_STAGE1: ContextVar[tuple[int | None] | None] = ContextVar("pinned_stage1", default=None)


def model_version_active(*, modality: Modality | int | str) -> ModelVersion | None:
    """The active stage 1 model of a modality (given as row, id or code), or None.
    A database constraint allows at most one per modality. Inside a pinned run, the
    version the run started with (None if it started without one)."""
    pinned = _PINNED_STAGE1.get()
    if pinned is not None:
        return ModelVersion.objects.filter(pk=pinned[0]).first() if pinned[0] is not None else None
    lookup: dict[str, Modality | int | str]
    if isinstance(modality, Modality):
        lookup = {"modality": modality}
    elif isinstance(modality, int):
        lookup = {"modality_id": modality}
    else:
        lookup = {"modality__code": modality}
    return ModelVersion.objects.filter(is_active=True, **lookup).first()


def model_versions_active() -> QuerySet[ModelVersion]:
    """The active stage 1 model of every modality that has one."""
    return ModelVersion.objects.filter(is_active=True)


def model_names_active() -> dict[str, str]:
    """modality name -> the name of its active stage 1 model, for the modalities that have one."""
    return dict(model_versions_active().values_list("modality__name", "name"))


# -- the stage 1 prediction that stands for a report ---------------------------------------


def stage1_current_predictions(*, report_ids: Iterable[int]) -> dict[int, Stage1Prediction]:
    """report id -> the stage 1 prediction that stands for it; reports without one are absent.

    The rule: the active model's prediction of the report; without one, the most
    recent prediction of any version (a report predicted before the model it was
    predicted by was rolled back still shows what stage 1 said)."""
    current: dict[int, Stage1Prediction] = {}
    rows = (
        Stage1Prediction.objects.filter(report_id__in=list(report_ids))
        .select_related("model_version")
        .order_by("report_id", "-model_version__is_active", "-created_at", "-id")
    )
    for row in rows.iterator(chunk_size=500):
        current.setdefault(row.report_id, row)
    return current


def stage1_current_prediction(*, report: Report | int) -> Stage1Prediction | None:
    """The stage 1 prediction that stands for one report (the rule: stage1_current_predictions)."""
    return (
        Stage1Prediction.objects.filter(report_id=_report_id(report))
        .select_related("model_version")
        .order_by("-model_version__is_active", "-created_at", "-id")
        .first()
    )


# -- the stage 2 prediction that stands for a report ---------------------------------------


def stage2_pipeline_predictions(*, report_ids: Iterable[int]) -> QuerySet[Stage2Prediction]:
    """The reports' stage 2 rows that may stand for them, of any status, each report's
    newest first: rows the pipeline stored (not an evaluation run) with a pipeline mode
    (not the same-sentence baseline)."""
    return Stage2Prediction.objects.filter(
        report_id__in=list(report_ids),
        purpose=Stage2Prediction.Purpose.PIPELINE,
        mode__in=pipeline_mode_names(),
    ).order_by("report_id", "-stored_at", "-id")


def stage2_current_predictions(*, report_ids: Iterable[int]) -> dict[int, Stage2Prediction]:
    """report id -> the stage 2 prediction that stands for it; reports without one are absent.

    The rule (the only place it is written): the current stage 2 prediction of a
    report is its most recent successful (status OK) prediction made by a pipeline
    mode (one whose strategy says `pipeline`: llm, llm_hint, combined) for the
    pipeline, not by an evaluation run. The same-sentence rules baseline and
    evaluation runs never stand for a report, however recent; a failed prediction
    never stands, and the one before it does. "Most recent" is the last time the
    pipeline stored the row (`stored_at`): a rerun of an older run key makes that row
    the newest, an evaluation recomputing it does not.

    Review sync, the export, the analytics episodes and the demo read this; the
    large columns (prompts, raw output, parsed JSON) are deferred."""
    current: dict[int, Stage2Prediction] = {}
    for row in _current_rows(report_ids).iterator(chunk_size=500):
        current.setdefault(row.report_id, row)
    return current


def stage2_current_prediction(*, report: Report | int) -> Stage2Prediction | None:
    """The stage 2 prediction that stands for one report (the rule: stage2_current_predictions)."""
    return _current_rows([_report_id(report)]).first()


def _current_rows(report_ids: Iterable[int]) -> QuerySet[Stage2Prediction]:
    return (
        stage2_pipeline_predictions(report_ids=report_ids)
        .filter(status=Stage2Prediction.Status.OK)
        .select_related("stage1_version")
        .defer(*HEAVY_FIELDS)
    )


def _report_id(report: Report | int) -> int:
    return report.pk if isinstance(report, Report) else report


def stage2_latest_pipeline_attempt(*, report: Report | int) -> Stage2Prediction | None:
    """The newest row the pipeline stored for the report with a pipeline mode, OK or
    failed: whether the pipeline's last try on the report failed (review's signal)."""
    return stage2_pipeline_predictions(report_ids=[_report_id(report)]).defer(*HEAVY_FIELDS).first()


@contextmanager
def stage1_version_pinned(version_id: int | None) -> Iterator[None]:
    """Within the block, model_version_active answers `version_id`'s version."""
    token = _PINNED_STAGE1.set((version_id,))
    try:
        yield
    finally:
        _PINNED_STAGE1.reset(token)

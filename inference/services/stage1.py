"""Stage 1 (BERT entity-key classification) on the Django side: the public API.

Modules: stage1_data (keys, label sources, held-out set, data snapshots),
stage1_training (training jobs and the registry rows they fill), stage1_inference
(predictors, stored predictions, cohort jobs, one report at a time),
stage1_registry (promotion, roll-back, comparison, active-learning uncertainty).
Other apps import from here.
"""

from inference.services.stage1_data import (
    HELDOUT_FRACTION,
    LABEL_SOURCE_CHOICES,
    LABEL_SOURCE_LABELS,
    WEAK_MODES,
    Stage1DataError,
    gold_key_sets,
    heldout_report_ids,
    is_heldout,
    stage1_keys,
    training_data_build,
)
from inference.services.stage1_inference import (
    Cohort,
    ReportPrediction,
    Stage1ModelUnavailable,
    active_version,
    cohort_predict,
    heldout_predict,
    inference_job_create,
    inference_job_work,
    predict_report,
    predictor_cache_clear,
    predictor_for,
)
from inference.services.stage1_registry import (
    PromotionError,
    closeness_to_threshold,
    model_promote,
    model_rollback,
    model_version_retire,
    stage1_uncertainty,
    versions_compare,
)
from inference.services.stage1_training import (
    PRESET_CHOICES,
    checkpoint_check,
    heldout_metrics,
    training_job_create,
    training_job_work,
)

__all__ = [
    "HELDOUT_FRACTION",
    "LABEL_SOURCE_CHOICES",
    "LABEL_SOURCE_LABELS",
    "PRESET_CHOICES",
    "WEAK_MODES",
    "Cohort",
    "PromotionError",
    "ReportPrediction",
    "Stage1DataError",
    "Stage1ModelUnavailable",
    "active_version",
    "checkpoint_check",
    "closeness_to_threshold",
    "cohort_predict",
    "gold_key_sets",
    "heldout_metrics",
    "heldout_predict",
    "heldout_report_ids",
    "inference_job_create",
    "inference_job_work",
    "is_heldout",
    "model_promote",
    "model_rollback",
    "model_version_retire",
    "predict_report",
    "predictor_cache_clear",
    "predictor_for",
    "stage1_keys",
    "stage1_uncertainty",
    "training_data_build",
    "training_job_create",
    "training_job_work",
    "versions_compare",
]

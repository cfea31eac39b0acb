"""Governed promotion: rules, history, roll-back, and the comparison shown before
promoting."""

from __future__ import annotations

import pytest

from inference.models import ModelPromotion, ModelVersion, Stage1Prediction
from inference.services.stage1 import (
    PromotionError,
    model_promote,
    model_rollback,
    model_version_retire,
    versions_compare,
)
from inference.services.stage1_data import gold_key_sets, heldout_report_ids
from tests.inference.factories import Stage1PredictionFactory, gold_corpus

KEYS = ["nodule", "consolidation", "pleural effusion"]


def _version(chest_ct, name: str, status: str = "ready") -> ModelVersion:
    return ModelVersion.objects.create(
        modality=chest_ct,
        name=name,
        preset="tiny",
        status=status,
        keys=KEYS,
        thresholds=dict.fromkeys(KEYS, 0.5),
    )


def test_promote_needs_a_reason_and_a_ready_version(chest_ct, admin_user):
    ready, failed = _version(chest_ct, "a"), _version(chest_ct, "b", status="failed")
    with pytest.raises(PromotionError, match="reason is required"):
        model_promote(version=ready, user=admin_user, reason="   ")
    with pytest.raises(PromotionError, match="not ready"):
        model_promote(version=failed, user=admin_user, reason="try")
    assert not ModelVersion.objects.filter(is_active=True).exists() and not ModelPromotion.objects.exists()


def test_promotion_keeps_one_active_version_and_records_the_previous_one(chest_ct, brain_mri, admin_user):
    first, second = _version(chest_ct, "a"), _version(chest_ct, "b")
    other_modality = ModelVersion.objects.create(
        modality=brain_mri, name="mri", preset="tiny", status="ready"
    )
    model_promote(version=other_modality, user=admin_user, reason="first MRI model")
    model_promote(version=first, user=admin_user, reason="first model")
    record = model_promote(version=second, user=admin_user, reason="better macro F1 on held-out")
    assert set(ModelVersion.objects.filter(is_active=True).values_list("name", flat=True)) == {"b", "mri"}
    assert (record.action, record.previous, record.user, record.reason) == (
        "promote",
        first,
        admin_user,
        "better macro F1 on held-out",
    )
    with pytest.raises(PromotionError, match="already the active version"):
        model_promote(version=second, user=admin_user, reason="again")


def test_rollback_reactivates_the_previous_version(chest_ct, admin_user):
    first, second = _version(chest_ct, "a"), _version(chest_ct, "b")
    with pytest.raises(PromotionError, match="no active version"):
        model_rollback(modality=chest_ct, user=admin_user, reason="oops")
    model_promote(version=first, user=admin_user, reason="first")
    with pytest.raises(PromotionError, match="nothing to roll back to"):
        model_rollback(modality=chest_ct, user=admin_user, reason="oops")
    model_promote(version=second, user=admin_user, reason="second")
    record = model_rollback(modality="chest_ct", user=admin_user, reason="b misses effusions")
    assert (record.action, record.model_version, record.previous) == ("rollback", first, second)
    assert ModelVersion.objects.get(is_active=True) == first
    assert ModelPromotion.objects.count() == 3


def test_rollback_refuses_a_retired_target(chest_ct, admin_user):
    first, second = _version(chest_ct, "a"), _version(chest_ct, "b")
    model_promote(version=first, user=admin_user, reason="first")
    model_promote(version=second, user=admin_user, reason="second")
    ModelVersion.objects.filter(pk=first.pk).update(status="retired")
    with pytest.raises(PromotionError, match="cannot be re-activated"):
        model_rollback(modality=chest_ct, user=admin_user, reason="back")
    assert ModelVersion.objects.get(is_active=True) == second


def test_retire_keeps_the_predictions_records_who_and_why_and_the_version_is_never_active_again(
    chest_ct, admin_user
):
    first, second = _version(chest_ct, "a"), _version(chest_ct, "b")
    Stage1PredictionFactory.create_batch(2, model_version=first, report__modality=chest_ct)
    model_promote(version=first, user=admin_user, reason="first")
    model_promote(version=second, user=admin_user, reason="second")

    record = model_version_retire(version=first, user=admin_user, reason="trained on a stale schema")

    first.refresh_from_db()
    assert (first.status, first.is_active, first.predictions.count()) == ("retired", False, 2)
    assert (record.action, record.model_version, record.previous, record.user, record.reason) == (
        "retire",
        first,
        None,
        admin_user,
        "trained on a stale schema",
    )
    with pytest.raises(PromotionError, match="not ready"):
        model_promote(version=first, user=admin_user, reason="again")
    with pytest.raises(PromotionError, match="cannot be re-activated"):
        model_rollback(modality=chest_ct, user=admin_user, reason="back")
    assert ModelVersion.objects.get(is_active=True) == second


def test_retire_needs_a_reason_and_refuses_the_active_a_training_or_a_retired_version(chest_ct, admin_user):
    active, training = _version(chest_ct, "a"), _version(chest_ct, "t", status="training")
    model_promote(version=active, user=admin_user, reason="first")
    with pytest.raises(PromotionError, match="reason is required"):
        model_version_retire(version=active, user=admin_user, reason=" ")
    with pytest.raises(PromotionError, match="is the active version"):
        model_version_retire(version=active, user=admin_user, reason="old")
    with pytest.raises(PromotionError, match="still training"):
        model_version_retire(version=training, user=admin_user, reason="old")
    retired = _version(chest_ct, "r", status="retired")
    with pytest.raises(PromotionError, match="already retired"):
        model_version_retire(version=retired, user=admin_user, reason="old")
    assert ModelPromotion.objects.filter(action="retire").count() == 0


def test_comparison_on_the_common_held_out_reports(chest_ct):
    gold_corpus(120)
    heldout = heldout_report_ids(chest_ct)
    assert len(heldout) >= 6
    gold = gold_key_sets(heldout)
    candidate, baseline = _version(chest_ct, "cand"), _version(chest_ct, "base")
    for report_id in heldout:
        Stage1Prediction.objects.create(
            report_id=report_id,
            model_version=candidate,
            probabilities={},
            predicted_keys=sorted(gold[report_id]),
        )
    for report_id in heldout[:-1]:  # the baseline misses one report: compared on the rest
        Stage1Prediction.objects.create(
            report_id=report_id, model_version=baseline, probabilities={}, predicted_keys=["nodule"]
        )
    out = versions_compare(candidate, baseline)
    common = heldout[:-1]
    assert out["n_common"] == len(common) and out["n_heldout"] == len(heldout)
    assert out["report"]["accuracy"]["candidate"] == 1.0
    baseline_right = sum(gold[r] == {"nodule"} for r in common)
    assert out["mcnemar"]["only_candidate_correct"] == len(common) - baseline_right
    assert out["mcnemar"]["only_baseline_correct"] == 0
    assert out["per_key"]["nodule"]["f1"]["candidate"] == 1.0
    assert out["per_key"]["consolidation"]["recall"]["baseline"] in (0.0, None)
    assert 0.0 <= out["mcnemar"]["p_value"] <= 1.0

"""Promoting a version that is worse than the active one on held-out gold needs a
second, explicit step (issue 18): the service refuses without confirm_worse, the page
and the API answer 409 with the comparison, and a confirmed promotion says so."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inference.models import ModelPromotion, ModelVersion, Stage1Prediction
from inference.services.stage1_data import gold_key_sets, heldout_report_ids
from inference.services.stage1_registry import (
    PromotionNeedsConfirmation,
    model_promote,
    promotion_warning,
)
from tests.inference.factories import gold_corpus

KEYS = ["nodule", "consolidation", "pleural effusion"]


def _version(modality, name: str, macro_f1: float | None) -> ModelVersion:
    heldout = None
    if macro_f1 is not None:
        averages = dict.fromkeys(("precision", "recall", "specificity"), 0.5) | {"f1": macro_f1}
        report = averages | {"accuracy": 0.5}
        heldout = {"macro": averages, "micro": averages, "report": report, "per_key": {}}
    return ModelVersion.objects.create(
        modality=modality,
        name=name,
        preset="tiny",
        status="ready",
        keys=KEYS,
        thresholds=dict.fromkeys(KEYS, 0.5),
        metrics={"n_heldout": 40, "heldout": heldout},
    )


@pytest.fixture
def active(chest_ct, admin_user) -> ModelVersion:
    version = _version(chest_ct, "good", 0.496)
    model_promote(version=version, user=admin_user, reason="first model")
    return version


def test_a_worse_version_is_refused_without_confirmation(chest_ct, admin_user, active):
    worse = _version(chest_ct, "worse", 0.295)
    with pytest.raises(PromotionNeedsConfirmation) as refused:
        model_promote(version=worse, user=admin_user, reason="try it")
    warning = refused.value.warning
    assert (warning.candidate_macro_f1, warning.baseline_macro_f1, warning.paired) == (0.295, 0.496, False)
    assert "29.5 vs 49.6" in str(refused.value)
    active.refresh_from_db()
    assert active.is_active and ModelPromotion.objects.count() == 1


def test_a_confirmed_promotion_records_that_the_warning_was_overridden(chest_ct, admin_user, active):
    worse = _version(chest_ct, "worse", 0.295)
    record = model_promote(version=worse, user=admin_user, reason="new keys", confirm_worse=True)
    assert record.overrode_warning is True
    assert record.warning["candidate_macro_f1"] == 0.295 and record.warning["baseline_macro_f1"] == 0.496
    assert ModelVersion.objects.get(is_active=True, modality=chest_ct) == worse


def test_a_better_version_is_promoted_in_one_step(chest_ct, admin_user, active):
    better = _version(chest_ct, "better", 0.61)
    record = model_promote(version=better, user=admin_user, reason="better")
    assert record.overrode_warning is False and record.warning == {}


def test_no_warning_without_an_active_version_or_without_numbers(chest_ct, admin_user):
    first = _version(chest_ct, "first", 0.2)
    assert promotion_warning(first, None) is None
    assert promotion_warning(first, _version(chest_ct, "unscored", None)) is None


def test_the_warning_compares_on_the_common_held_out_reports_with_mcnemar(chest_ct, admin_user):
    gold_corpus(120)
    heldout = heldout_report_ids(chest_ct)
    gold = gold_key_sets(heldout)
    baseline, candidate = _version(chest_ct, "base", 0.1), _version(chest_ct, "cand", 0.9)
    for report_id in heldout:  # stored numbers say "better"; the paired reports say otherwise
        right = sorted(gold[report_id])
        Stage1Prediction.objects.create(
            report_id=report_id, model_version=baseline, probabilities={}, predicted_keys=right
        )
        Stage1Prediction.objects.create(
            report_id=report_id, model_version=candidate, probabilities={}, predicted_keys=[]
        )
    warning = promotion_warning(candidate, baseline)
    assert warning is not None and warning.paired and warning.n_reports == len(heldout)
    assert warning.baseline_macro_f1 == 1.0 and warning.candidate_macro_f1 < 1.0
    assert warning.p_value is not None and warning.p_value < 0.05


def test_the_page_answers_409_with_the_comparison_then_promotes_when_confirmed(
    client, chest_ct, admin_user, active
):
    worse = _version(chest_ct, "worse", 0.295)
    client.force_login(admin_user)
    url = reverse("inference:model_promote", args=[worse.pk])

    refused = client.post(url, {"reason": "try it"})

    assert refused.status_code == 409
    html = refused.content.decode()
    assert 'id="promotion-warning"' in html and "29.5" in html and "49.6" in html
    assert 'name="confirm_worse" value="1"' in html and ">try it</textarea>" in html
    assert not ModelVersion.objects.get(pk=worse.pk).is_active

    confirmed = client.post(url, {"reason": "try it", "confirm_worse": "1"})

    assert confirmed.status_code == 302
    record = ModelPromotion.objects.get(model_version=worse)
    assert record.overrode_warning and record.reason == "try it"


def test_the_detail_page_says_beforehand_that_promotion_will_ask(client, chest_ct, admin_user, active):
    worse = _version(chest_ct, "worse", 0.295)
    client.force_login(admin_user)
    html = client.get(reverse("inference:model_detail", args=[worse.pk])).content.decode()
    assert 'id="promotion-worse-note"' in html


def test_the_api_answers_409_with_the_comparison_then_promotes_when_confirmed(
    client, chest_ct, admin_user, active
):
    worse = _version(chest_ct, "worse", 0.295)
    client.force_login(admin_user)
    url = reverse("api_stage1_promote", args=[worse.pk])

    refused = client.post(url, {"reason": "try"}, content_type="application/json")

    assert refused.status_code == 409
    comparison = refused.json()["comparison"]
    assert (comparison["candidate_macro_f1"], comparison["baseline_macro_f1"]) == (0.295, 0.496)
    assert comparison["mcnemar_p"] is None and comparison["paired"] is False

    confirmed = client.post(url, {"reason": "try", "confirm_worse": True}, content_type="application/json")

    assert confirmed.status_code == 200 and confirmed.json()["overrode_warning"] is True

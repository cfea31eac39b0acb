"""Stage 1 screens and REST API: admins only (clinicians may read one report's
prediction), runs are queued not run in the request, promotion needs a reason,
clear messages for bad input."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import WeakLabel, WeakLabelSet
from inference.models import ModelPromotion, ModelVersion
from inference.services.stage1 import predictor_cache_clear
from inference.services.stage1_data import is_heldout
from jobs.models import Job
from tests.annotations.factories import entity_key
from tests.inference.factories import (
    Stage1PredictionFactory,
    corpus_report,
    gold_corpus,
    installed_version,
    unlabelled_corpus,
)

KEYS = ["nodule", "consolidation", "pleural effusion"]


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.MODEL_STORAGE_DIR = tmp_path / "models"
    predictor_cache_clear()
    yield settings.MODEL_STORAGE_DIR
    predictor_cache_clear()


@pytest.fixture
def ready(chest_ct):
    return ModelVersion.objects.create(
        modality=chest_ct,
        name="chest_ct-v1",
        preset="tiny",
        status="ready",
        keys=KEYS,
        thresholds=dict.fromkeys(KEYS, 0.4),
        metrics={
            "n_heldout": 3,
            "heldout": {
                "report": {"accuracy": 0.5, "precision": 0.9, "recall": 0.8, "f1": 0.85, "specificity": 1.0},
                "micro": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "specificity": 0.9},
                "macro": {"precision": 0.9, "recall": 0.8, "f1": 0.8123, "specificity": 0.9},
                "per_key": {k: {"tp": 1, "fp": 0, "fn": 0, "tn": 2, "f1": 1.0, "support": 1} for k in KEYS},
            },
        },
        curves={"finetune": {"steps": [{"step": i, "loss": 1 / i} for i in range(1, 20)], "epochs": []}},
    )


def _forbidden_calls(version: ModelVersion) -> list[tuple[str, str, dict]]:
    return [
        ("get", reverse("inference:model_list"), {}),
        ("get", reverse("inference:model_runs"), {}),
        ("get", reverse("inference:model_detail", args=[version.pk]), {}),
        (
            "post",
            reverse("inference:train_start"),
            {"modality": "chest_ct", "preset": "small", "label_sources": "gold"},
        ),
        ("post", reverse("inference:infer_start"), {}),
        ("post", reverse("inference:model_promote", args=[version.pk]), {"reason": "x"}),
        ("post", reverse("inference:model_rollback", args=["chest_ct"]), {"reason": "x"}),
        ("post", reverse("inference:model_retire", args=[version.pk]), {"reason": "x"}),
        ("get", reverse("api_stage1_models"), {}),
        ("get", reverse("api_stage1_model", args=[version.pk]), {}),
        ("post", reverse("api_stage1_training_runs"), {"modality": "chest_ct"}),
        ("post", reverse("api_stage1_inference_runs"), {}),
        ("post", reverse("api_stage1_promote", args=[version.pk]), {"reason": "x"}),
        ("post", reverse("api_stage1_rollback"), {"modality": "chest_ct", "reason": "x"}),
        ("get", reverse("api_stage1_heldout") + "?modality=chest_ct", {}),
    ]


@pytest.mark.parametrize("fixture", ["annotator", "clinician"])
def test_only_admins_train_run_and_promote(client, request, fixture, ready):
    client.force_login(request.getfixturevalue(fixture))
    for method, url, data in _forbidden_calls(ready):
        assert getattr(client, method)(url, data).status_code == 403, url
    assert not Job.objects.exists() and not ModelPromotion.objects.exists()
    assert ModelVersion.objects.count() == 1


def test_anonymous_users_are_sent_to_log_in_or_refused(client, ready):
    assert client.get(reverse("inference:model_list")).status_code in (302, 403)
    assert client.get(reverse("api_stage1_models")).status_code in (401, 403)


def test_admin_sees_versions_with_metrics_and_the_detail_page(client, admin_user, ready):
    client.force_login(admin_user)
    page = client.get(reverse("inference:model_list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "chest_ct-v1" in html and "81.2" in html and 'id="train-form"' in html
    detail = client.get(reverse("inference:model_detail", args=[ready.pk])).content.decode()
    assert 'id="per-key-metrics"' in detail and "<polyline" in detail and 'id="loss-curve"' in detail
    assert 'id="promote-form"' in detail


def _outside_heldout(reports) -> int:
    return sum(not is_heldout(r.source, r.external_id) for r in reports)


def _weak_labelled(reports, *, mode):
    for report in reports:
        label_set = WeakLabelSet.objects.create(report=report, mode=mode, schema_version=1)
        WeakLabel.objects.create(label_set=label_set, key=entity_key("nodule"), status="positive")


@pytest.fixture
def recipe_data(chest_ct):
    """Gold reports and keyword weak labels on unannotated ones (no rule engine labels)."""
    gold, plain = gold_corpus(10), unlabelled_corpus(14)
    _weak_labelled(plain, mode="keyword")
    return {"gold": _outside_heldout(gold), "weak": _outside_heldout(plain)}


def test_training_form_queues_a_job_and_never_trains_in_the_request(
    client, admin_user, chest_ct, recipe_data, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    data = {"modality": "chest_ct", "preset": "small", "label_sources": "gold_weak", "weak_mode": "keyword"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("inference:train_start"), data)
    assert response.status_code == 302
    job = Job.objects.get(kind=Job.Kind.TRAIN)
    version = ModelVersion.objects.get()
    assert job.status == Job.Status.QUEUED and len(callbacks) == 1  # sent to a worker after commit
    assert job.task_name == "inference.stage1_train" and job.params["model_version_id"] == version.pk
    assert version.status == "training" and version.job == job and version.created_by == admin_user
    assert job.params["requested_counts"]["weak"] == recipe_data["weak"]
    assert job.params["members"] == 5  # the form left empty: the service's cross-fitted default


def test_training_form_takes_the_members_and_refuses_too_many(client, admin_user, chest_ct, recipe_data):
    client.force_login(admin_user)
    data = {"modality": "chest_ct", "preset": "small", "label_sources": "gold_weak", "weak_mode": "keyword"}
    response = client.post(reverse("inference:train_start"), {**data, "members": "9"})
    assert response.status_code == 400 and not Job.objects.exists()
    assert "less than or equal to 8" in response.content.decode()
    client.post(reverse("inference:train_start"), {**data, "members": "1"})
    assert Job.objects.get(kind=Job.Kind.TRAIN).params["members"] == 1


def test_training_form_previews_the_counts_of_the_recipe(client, admin_user, recipe_data):
    client.force_login(admin_user)
    query = {"modality": "chest_ct", "label_sources": "gold_weak", "weak_mode": "keyword"}
    fragment = client.get(reverse("inference:train_preview"), query).content.decode()
    total = recipe_data["gold"] + recipe_data["weak"]
    assert f"This recipe trains on {total} reports" in fragment
    assert f"{recipe_data['gold']} gold, {recipe_data['weak']} weak (keyword, schema v1)" in fragment
    assert "Refused" not in fragment
    page = client.get(reverse("inference:model_list")).content.decode()
    assert 'id="train-preview"' in page and 'hx-get="/models/train/preview/"' in page


def test_training_form_refuses_weak_labels_that_do_not_exist_and_says_why(client, admin_user, recipe_data):
    client.force_login(admin_user)
    data = {
        "modality": "chest_ct",
        "preset": "small",
        "label_sources": "gold_weak",
        "weak_mode": "rule_engine",
    }
    preview = client.get(reverse("inference:train_preview"), data).content.decode()
    assert "Refused: the recipe asks for weak labels but there are no rule_engine weak labels" in preview
    response = client.post(reverse("inference:train_start"), data)
    html = response.content.decode()
    assert response.status_code == 400 and "no rule_engine weak labels for chest_ct" in html
    assert 'value="rule_engine" selected' in html  # the user's choices are kept
    assert not Job.objects.exists() and not ModelVersion.objects.exists()


def test_training_form_refuses_a_recipe_without_gold(client, admin_user, chest_ct):
    _weak_labelled(unlabelled_corpus(14), mode="rule_engine")
    client.force_login(admin_user)
    data = {"modality": "chest_ct", "preset": "small", "label_sources": "gold_weak"}
    response = client.post(reverse("inference:train_start"), data)
    assert response.status_code == 400
    assert "no gold chest_ct reports outside the held-out set" in response.content.decode()
    assert not Job.objects.exists()


def test_api_refuses_an_empty_recipe_and_previews_counts(client, admin_user, recipe_data):
    client.force_login(admin_user)
    url = reverse("api_stage1_training_runs")
    refused = client.post(
        url, {"modality": "chest_ct", "label_sources": "gold_weak", "weak_mode": "rule_engine"}
    )
    # Well formed, refused by the data's state: 409, as every state refusal (docs/decisions.md).
    assert refused.status_code == 409 and "no rule_engine weak labels" in refused.json()["detail"]
    preview = client.get(
        reverse("api_stage1_training_preview"), {"modality": "chest_ct", "label_sources": "gold_weak"}
    ).json()
    # auto: no rule engine labels, so keyword + negation, which does not exist either
    assert preview["weak_mode"] == "rule_engine" and "no rule_engine weak labels" in preview["problem"]
    keyword = client.get(
        reverse("api_stage1_training_preview"),
        {"modality": "chest_ct", "label_sources": "gold_weak", "weak_mode": "keyword"},
    ).json()
    assert keyword["problem"] is None
    assert (keyword["counts"]["gold"], keyword["counts"]["weak"]) == (
        recipe_data["gold"],
        recipe_data["weak"],
    )
    assert not Job.objects.exists()


def test_api_takes_the_members_and_refuses_out_of_range(
    client, admin_user, recipe_data, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    url = reverse("api_stage1_training_runs")
    data = {"modality": "chest_ct", "label_sources": "gold_weak", "weak_mode": "keyword"}
    refused = client.post(url, {**data, "members": 0})
    assert refused.status_code == 400 and "members" in refused.json()
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post(url, {**data, "members": 2})
    assert started.status_code == 202
    assert Job.objects.get(pk=started.json()["job"]).params["members"] == 2


def test_detail_page_says_how_many_reports_of_each_source_went_in(client, admin_user, ready):
    ready.data_counts = {
        "gold": 7,
        "weak": 40,
        "approved": 0,
        "total": 47,
        "unlabelled_pretrain": 0,
        "heldout_excluded": 2,
    }
    ready.label_sources = ["gold", "weak:rule_engine"]
    ready.save()
    client.force_login(admin_user)
    detail = client.get(reverse("inference:model_detail", args=[ready.pk])).content.decode()
    assert "47 reports went in</strong>: 7 gold, 40 weak (rule_engine), 0 clinician-approved" in detail


def test_training_form_explains_a_bad_checkpoint(client, admin_user, chest_ct):
    client.force_login(admin_user)
    data = {"modality": "chest_ct", "preset": "small", "label_sources": "gold", "init_checkpoint": "/etc"}
    response = client.post(reverse("inference:train_start"), data)
    assert response.status_code == 400 and "must lie under" in response.content.decode()
    assert not Job.objects.exists()


def test_inference_form_without_an_active_model_says_so(client, admin_user, chest_ct):
    client.force_login(admin_user)
    response = client.post(reverse("inference:infer_start"), {})
    assert (
        response.status_code == 400 and "no modality has an active stage 1 model" in response.content.decode()
    )


def test_promote_and_roll_back_from_the_screens(client, admin_user, ready, chest_ct):
    client.force_login(admin_user)
    url = reverse("inference:model_promote", args=[ready.pk])
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "best held-out F1"}).status_code == 302
    ready.refresh_from_db()
    assert ready.is_active
    newer = ModelVersion.objects.create(modality=chest_ct, name="chest_ct-v2", preset="tiny", status="ready")
    client.post(reverse("inference:model_promote", args=[newer.pk]), {"reason": "retrained with weak labels"})
    response = client.post(reverse("inference:model_rollback", args=["chest_ct"]), {"reason": "v2 regressed"})
    assert response.status_code == 302
    assert ModelVersion.objects.get(is_active=True) == ready
    assert list(ModelPromotion.objects.order_by("pk").values_list("action", flat=True)) == [
        "promote",
        "promote",
        "rollback",
    ]


def test_api_train_promote_and_rollback(
    client, admin_user, ready, chest_ct, recipe_data, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("api_stage1_training_runs"),
            {"modality": "chest_ct", "preset": "tiny", "label_sources": "gold", "epochs": 2},
            content_type="application/json",
        )
    assert response.status_code == 202
    assert response.json()["counts"]["gold"] == recipe_data["gold"]
    assert ModelVersion.objects.get(pk=response.json()["model_version"]).status == "training"
    bad = client.post(reverse("api_stage1_training_runs"), {"modality": "chest_ct", "preset": "huge"})
    assert bad.status_code == 400 and "preset" in bad.json()
    promote = reverse("api_stage1_promote", args=[ready.pk])
    assert client.post(promote, {"reason": ""}).status_code == 400
    assert client.post(promote, {"reason": "ok"}).json()["action"] == "promote"
    refused = client.post(reverse("api_stage1_rollback"), {"modality": "chest_ct", "reason": "back"})
    # Well formed, but the versions' state refuses it: a 409.
    assert refused.status_code == 409 and "nothing to roll back to" in refused.json()["detail"]
    listing = client.get(reverse("api_stage1_models") + "?modality=chest_ct").json()["results"]
    assert {v["name"] for v in listing} >= {"chest_ct-v1"}
    detail = client.get(reverse("api_stage1_model", args=[ready.pk])).json()
    assert detail["metrics"]["heldout"]["macro"]["f1"] == 0.8123 and detail["is_active"]


def test_report_prediction_api_for_clinicians(client, clinician, annotator, chest_ct, storage):
    report = corpus_report(external_id="x", text="There is a small nodule.")
    url = reverse("api_report_stage1", args=[report.pk])
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    client.force_login(clinician)
    missing = client.get(url)
    assert missing.status_code == 503 and "no active stage 1 model" in missing.json()["detail"]
    installed_version(storage, is_active=True, name="active")
    body = client.get(url).json()
    assert set(body["probabilities"]) == set(body["thresholds"]) and body["stored"] is False


def test_home_links_admins_to_the_models_page(client, admin_user, annotator):
    client.force_login(admin_user)
    assert reverse("inference:model_list") in client.get(reverse("home")).content.decode()
    client.force_login(annotator)
    assert reverse("inference:model_list") not in client.get(reverse("home")).content.decode()


def test_retire_from_the_detail_page_keeps_predictions_and_needs_csrf(admin_user, ready, chest_ct):
    Stage1PredictionFactory.create_batch(3, model_version=ready, report__modality=chest_ct)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse("inference:model_retire", args=[ready.pk])
    assert client.post(url, {"reason": "superseded by v2"}).status_code == 403  # no CSRF token

    page = client.get(reverse("inference:model_detail", args=[ready.pk]))
    assert 'id="retire-form"' in page.content.decode()
    response = client.post(
        url, {"reason": "superseded by v2", "csrfmiddlewaretoken": page.context["csrf_token"]}
    )

    assert response.status_code == 302
    ready.refresh_from_db()
    assert (ready.status, ready.predictions.count()) == ("retired", 3)
    record = ModelPromotion.objects.get()
    assert (record.action, record.model_version, record.user, record.reason) == (
        "retire",
        ready,
        admin_user,
        "superseded by v2",
    )
    assert (
        'id="retire-form"'
        not in client.get(reverse("inference:model_detail", args=[ready.pk])).content.decode()
    )


def test_retiring_the_active_version_is_refused_on_the_page(client, admin_user, ready):
    client.force_login(admin_user)
    client.post(reverse("inference:model_promote", args=[ready.pk]), {"reason": "first"})

    response = client.post(reverse("inference:model_retire", args=[ready.pk]), {"reason": "old"})

    assert response.status_code == 400
    assert "promote another one or roll back" in response.content.decode()
    ready.refresh_from_db()
    assert (ready.status, ready.is_active) == ("ready", True)

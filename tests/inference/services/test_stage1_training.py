"""Stage 1 training through the job runner (eager): registry row, artefacts, frozen
snapshot, held-out evaluation, progress; resume, cancellation and failure."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import torch
from django.utils import timezone

from annotations.models import Assignment, WeakLabel, WeakLabelSet
from inference.models import ModelVersion, Stage1Prediction
from inference.services import stage1_training
from inference.services.stage1 import (
    Stage1DataError,
    heldout_report_ids,
    is_heldout,
    predictor_cache_clear,
    training_job_create,
)
from inference.tasks.stage1 import stage1_train_task
from jobs.models import Job
from jobs.services import job_cancel
from tests.annotations.factories import entity_key
from tests.inference.factories import gold_corpus, unlabelled_corpus


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.MODEL_STORAGE_DIR = tmp_path / "models"
    predictor_cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on the shared 2-core machine spin against each other
    yield settings.MODEL_STORAGE_DIR
    torch.set_num_threads(threads)
    predictor_cache_clear()


def _train(admin_user, **kw):
    params = {
        "modality": "chest_ct",
        "preset": "tiny",
        "label_sources": "gold",
        "epochs": 4,
        "members": 1,  # one model keeps these tests fast; the members test asks for two
        "user": admin_user,
    }
    job, version = training_job_create(**{**params, **kw})
    stage1_train_task.apply(args=[job.pk])
    job.refresh_from_db()
    version.refresh_from_db()
    return job, version


def test_training_job_end_to_end(chest_ct, admin_user, storage):
    gold_corpus(70)
    plain = unlabelled_corpus(30)
    job, version = _train(admin_user, pretrain=True, mlm_epochs=1)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert version.status == ModelVersion.Status.READY and version.name == f"chest_ct-v{version.number}"
    assert not version.is_active  # promotion is an admin's separate decision
    root = storage / "chest_ct" / f"v{version.pk}"
    assert (root / "model" / "artifact.json").exists() and (root / "mlm" / "config.json").exists()
    # The frozen snapshot: the file's bytes match the recorded checksum, and it lists the examples.
    snapshot = storage / version.data_snapshot_path
    assert hashlib.sha256(snapshot.read_bytes()).hexdigest() == version.data_snapshot_sha256
    examples = json.loads(snapshot.read_bytes())["examples"]
    heldout = heldout_report_ids(chest_ct)
    assert len(examples) == version.data_counts["gold"] == 70 - len(heldout)
    assert not {e[0] for e in examples} & set(heldout)
    outside_bucket = [r for r in plain if not is_heldout(r.source, r.external_id)]
    assert version.data_counts["unlabelled_pretrain"] == len(outside_bucket)
    # Held-out predictions stored, one per report, and the method's metrics over them.
    stored = set(Stage1Prediction.objects.filter(model_version=version).values_list("report_id", flat=True))
    assert stored == set(heldout)
    assert version.metrics["n_heldout"] == len(heldout)
    assert set(version.metrics["heldout"]) == {"report", "per_key", "micro", "macro"}
    assert set(version.metrics["heldout"]["per_key"]) == set(version.keys)
    assert version.keys[:3] == ["nodule", "mass", "consolidation"] and set(version.thresholds) == set(
        version.keys
    )
    # Curves for plotting, the configuration and the code version.
    assert version.curves["finetune"]["steps"] and version.curves["pretrain"]["steps"]
    assert {"step", "loss"} <= set(version.curves["finetune"]["steps"][0])
    assert version.config["preset"]["name"] == "tiny" and version.config["request"]["label_sources"] == "gold"
    assert version.label_sources == ["gold"]
    assert "fine-tuning" in job.log and "held-out" in job.log
    assert job.result["model_version"] == version.pk
    assert job.progress_message.startswith("fine-tuning: step") and "loss" in job.progress_message


def test_a_run_with_members_trains_one_model_per_fold_and_saves_their_ensemble(chest_ct, admin_user, storage):
    gold_corpus(60)
    job, version = _train(admin_user, members=2, epochs=1)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert version.config["request"]["members"] == 2
    manifest = json.loads((storage / "chest_ct" / f"v{version.pk}" / "model" / "artifact.json").read_text())
    assert manifest["members"] == 2
    assert "member 1 of 2" in job.log and "member 2 of 2" in job.log
    assert version.metrics["n_heldout"] == len(heldout_report_ids(chest_ct))


def test_a_redelivered_training_job_resumes_from_what_is_already_saved(chest_ct, admin_user, monkeypatch):
    gold_corpus(40)
    job, version = _train(admin_user)
    sha, first_metrics = version.data_snapshot_sha256, version.metrics
    # The worker died after saving: the job row still says running; the message comes again.
    dead = timezone.now() - timedelta(minutes=5)  # its last heartbeat
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, finished_at=None, heartbeat_at=dead)
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.TRAINING)
    monkeypatch.setattr(
        "inference.ml.bert.finetune", lambda *a, **k: pytest.fail("the saved classifier must be reused")
    )
    stage1_train_task.apply(args=[job.pk])
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and version.status == ModelVersion.Status.READY
    assert "resuming: the frozen data snapshot is reused" in job.log
    assert "resuming: the classifier was already saved" in job.log
    assert version.data_snapshot_sha256 == sha and version.metrics["heldout"] == first_metrics["heldout"]
    assert Stage1Prediction.objects.filter(model_version=version).count() == version.metrics["n_heldout"]


def test_cancelling_a_running_training_job_leaves_no_model(chest_ct, admin_user, monkeypatch, storage):
    gold_corpus(40)
    build = stage1_training.training_data_build

    def build_then_cancel(*args, **kwargs):
        data = build(*args, **kwargs)
        Job.objects.filter(kind=Job.Kind.TRAIN).update(cancel_requested=True)  # the admin pressed cancel
        return data

    monkeypatch.setattr(stage1_training, "training_data_build", build_then_cancel)
    job, version = _train(admin_user)
    assert job.status == Job.Status.CANCELLED
    assert version.status == ModelVersion.Status.CANCELLED
    assert not (storage / "chest_ct" / f"v{version.pk}" / "model").exists()


def test_cancelling_a_queued_training_job_leaves_no_version_training(chest_ct, admin_user):
    gold_corpus(10)
    job, version = training_job_create(
        modality="chest_ct", preset="tiny", label_sources="gold", user=admin_user
    )
    assert job_cancel(job=job)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.CANCELLED


def test_a_failed_run_records_the_reason_on_the_job_and_marks_the_version(chest_ct, admin_user):
    gold_corpus(10)
    job, version = training_job_create(
        modality="chest_ct", preset="tiny", label_sources="gold", user=admin_user
    )
    Assignment.objects.all().delete()  # the gold went away between the request and the worker
    stage1_train_task.apply(args=[job.pk])
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == Job.Status.FAILED and version.status == ModelVersion.Status.FAILED
    assert "Stage1RecipeRefused: no gold chest_ct reports outside the held-out set" in job.error


def test_a_recipe_without_gold_is_refused_before_a_job_exists(chest_ct, admin_user):
    _weak_labelled(unlabelled_corpus(12), mode="rule_engine")
    with pytest.raises(Stage1DataError, match="no gold chest_ct reports outside the held-out set"):
        training_job_create(modality="chest_ct", preset="tiny", label_sources="gold_weak", user=admin_user)
    assert not Job.objects.exists() and not ModelVersion.objects.exists()


def test_requested_weak_labels_that_do_not_exist_are_refused_with_the_mode(chest_ct, admin_user):
    gold_corpus(10)
    _weak_labelled(unlabelled_corpus(12), mode="keyword")
    with pytest.raises(Stage1DataError, match="no keyword_negation weak labels for chest_ct"):
        training_job_create(
            modality="chest_ct",
            preset="tiny",
            label_sources="gold_weak",
            weak_mode="keyword_negation",
            user=admin_user,
        )
    assert not Job.objects.exists() and not ModelVersion.objects.exists()


def test_auto_weak_mode_takes_the_rule_engine_labels_and_records_the_counts(chest_ct, admin_user):
    gold = gold_corpus(10)
    plain = unlabelled_corpus(12)
    _weak_labelled(plain, mode="keyword_negation")
    _weak_labelled(plain, mode="rule_engine")
    job, _version = training_job_create(
        modality="chest_ct", preset="tiny", label_sources="gold_weak", user=admin_user
    )
    counts = job.params["requested_counts"]
    assert job.params["weak_mode"] == "rule_engine"
    assert counts["gold"] == sum(not is_heldout(r.source, r.external_id) for r in gold)
    assert counts["weak"] == sum(not is_heldout(r.source, r.external_id) for r in plain)
    assert counts["total"] == counts["gold"] + counts["weak"]


def _weak_labelled(reports, *, mode):
    for report in reports:
        label_set = WeakLabelSet.objects.create(report=report, mode=mode, schema_version=1)
        WeakLabel.objects.create(label_set=label_set, key=entity_key("nodule"), status="positive")


def test_bad_requests_are_refused_before_a_job_exists(chest_ct, admin_user, tmp_path):
    with pytest.raises(Stage1DataError, match="unknown size preset"):
        training_job_create(modality="chest_ct", preset="huge", label_sources="gold")
    with pytest.raises(Stage1DataError, match="must lie under"):
        training_job_create(modality="chest_ct", preset="small", label_sources="gold", init_checkpoint="/etc")
    missing = tmp_path / "models" / "nope"
    with pytest.raises(Stage1DataError, match="does not exist"):
        training_job_create(
            modality="chest_ct", preset="small", label_sources="gold", init_checkpoint=str(missing)
        )
    with pytest.raises(Stage1DataError, match="not a usable directory path"):
        training_job_create(
            modality="chest_ct", preset="small", label_sources="gold", init_checkpoint="a\x00b"
        )
    with pytest.raises(Stage1DataError, match="members must be between 1 and 8"):
        training_job_create(modality="chest_ct", preset="small", label_sources="gold", members=0)
    assert not Job.objects.exists() and not ModelVersion.objects.exists()

"""Stage 1 inference: cohort jobs (idempotent, resumable, cancellable), one report
at a time, a missing model directory, and the annotation queue's uncertainty."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import pytest
import torch

from annotations.services.queue_order import queue_ranks, uncertainty_provider
from annotations.services.revisions import report_revise
from inference.models import Stage1Prediction
from inference.services import stage1_inference
from inference.services.stage1 import (
    Cohort,
    Stage1DataError,
    Stage1ModelUnavailable,
    closeness_to_threshold,
    cohort_predict,
    inference_job_create,
    predict_report,
    predictor_cache_clear,
)
from inference.tasks.stage1 import stage1_infer_task
from jobs.models import Job
from tests.annotations.factories import ReportFactory
from tests.inference.factories import corpus_report, installed_version, unlabelled_corpus


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.MODEL_STORAGE_DIR = tmp_path / "models"
    predictor_cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield settings.MODEL_STORAGE_DIR
    torch.set_num_threads(threads)
    predictor_cache_clear()


@pytest.fixture
def active(chest_ct, storage):
    return installed_version(storage, is_active=True, name="chest_ct-v-test")


def _run(job: Job) -> Job:
    stage1_infer_task.apply(args=(job.pk,))
    job.refresh_from_db()
    return job


def test_inference_over_everything_not_yet_predicted_is_idempotent(active, admin_user):
    reports = unlabelled_corpus(30)
    job = _run(inference_job_create(cohort=Cohort(), user=admin_user))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.params["versions"] == {"chest_ct": active.pk}
    assert job.result["chest_ct"]["predicted_now"] == 30
    assert (job.progress_done, job.progress_total) == (30, 30)
    rows = Stage1Prediction.objects.filter(model_version=active)
    assert rows.count() == 30 and {r.report_id for r in rows} == {r.pk for r in reports}
    row = rows.first()
    assert set(row.probabilities) == set(active.keys)
    assert all(0.0 <= p <= 1.0 for p in row.probabilities.values())
    assert set(row.predicted_keys) == {k for k, p in row.probabilities.items() if p >= active.thresholds[k]}
    again = _run(inference_job_create(cohort=Cohort(), user=admin_user))
    assert again.result["chest_ct"] == {
        **again.result["chest_ct"],
        "predicted_now": 0,
        "already_predicted": 30,
    }
    assert rows.count() == 30


def test_a_restarted_job_resumes_without_duplicating(active, admin_user):
    reports = unlabelled_corpus(25)
    done_first = [r.pk for r in reports[:10]]
    cohort_predict(active, reports[0].__class__.objects.filter(pk__in=done_first))  # the dead worker's part
    job = inference_job_create(cohort=Cohort(modalities=["chest_ct"]), user=admin_user)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)  # redelivered after the restart
    job = _run(job)
    assert job.result["chest_ct"]["already_predicted"] == 10
    assert job.result["chest_ct"]["predicted_now"] == 15
    assert Stage1Prediction.objects.filter(model_version=active).count() == 25


def test_cohort_filters_dates_and_patients(active, admin_user):
    old = corpus_report(external_id="old", text="There is a small nodule.")
    new = corpus_report(external_id="new", text="There is pleural effusion.")
    other = corpus_report(external_id="other", text="There is patchy consolidation.")
    old.study_datetime = datetime(2020, 1, 5, tzinfo=UTC)
    new.study_datetime = other.study_datetime = datetime(2024, 3, 1, tzinfo=UTC)
    for r in (old, new, other):
        r.save()
    cohort = Cohort(date_from=date(2023, 1, 1), patient_ids=["p-new"])
    _run(inference_job_create(cohort=cohort, user=admin_user))
    assert set(Stage1Prediction.objects.values_list("report_id", flat=True)) == {new.pk}


def test_cancelling_stops_between_chunks(active, admin_user, monkeypatch, settings):
    unlabelled_corpus(12)
    settings.JOBS_CHUNK_SIZE = 5
    compute = stage1_inference.predictions_compute

    def compute_then_cancel(*args, **kwargs):
        out = compute(*args, **kwargs)
        Job.objects.filter(kind=Job.Kind.INFER).update(cancel_requested=True)
        return out

    monkeypatch.setattr(stage1_inference, "predictions_compute", compute_then_cancel)
    job = _run(inference_job_create(cohort=Cohort(), user=admin_user))
    assert job.status == Job.Status.CANCELLED
    assert Stage1Prediction.objects.count() == 5  # the first chunk, kept: the next run skips it


def test_no_active_model_refuses_to_create_a_job(chest_ct, admin_user):
    with pytest.raises(Stage1DataError, match="no active stage 1 model for chest_ct"):
        inference_job_create(cohort=Cohort(modalities=["chest_ct"]), user=admin_user)
    with pytest.raises(Stage1DataError, match="no modality has an active stage 1 model"):
        inference_job_create(cohort=Cohort(), user=admin_user)


def test_missing_model_directory_is_a_clear_error(active, admin_user, storage):
    shutil.rmtree(storage / active.artifact_path)
    report = corpus_report(external_id="x", text="There is a small nodule.")
    with pytest.raises(Stage1ModelUnavailable, match=r"cannot be loaded: model directory .* does not exist"):
        predict_report(report)
    job = _run(inference_job_create(cohort=Cohort(), user=admin_user))
    assert job.status == Job.Status.FAILED
    assert "Stage1ModelUnavailable" in job.error and "does not exist" in job.error


def test_corrupt_model_directory_is_a_clear_error(active, storage):
    (storage / active.artifact_path / "model.safetensors").write_bytes(b"not weights")
    report = corpus_report(external_id="x", text="There is a small nodule.")
    with pytest.raises(Stage1ModelUnavailable, match="corrupt or not a safetensors file"):
        predict_report(report)


def test_predict_report_computes_once_then_reads_the_stored_row(active):
    report = corpus_report(external_id="x", text="There is a small nodule. Heart size is normal.")
    first = predict_report(report)
    assert not first.stored and first.model_version_id == active.pk
    assert first.predicted_keys == [k for k in active.keys if first.probabilities[k] >= active.thresholds[k]]
    second = predict_report(report)
    assert second.stored and second.probabilities == first.probabilities
    assert Stage1Prediction.objects.filter(report=report).count() == 1


def test_a_very_long_report_is_truncated_with_a_warning(active):
    text = ("There is a small nodule. " * 4000)[:100_000]
    report = corpus_report(external_id="long", text=text)
    result = predict_report(report)
    assert result.truncated and any("truncated" in w for w in result.warnings)
    assert Stage1Prediction.objects.get(report=report).truncated


def test_no_active_model_for_one_report_says_so(chest_ct):
    report = corpus_report(external_id="x", text="There is a small nodule.")
    with pytest.raises(Stage1ModelUnavailable, match="no active stage 1 model for Chest CT"):
        predict_report(report)


def test_closeness_to_threshold():
    assert closeness_to_threshold(0.3, 0.3) == 1.0
    assert closeness_to_threshold(0.0, 0.3) == 0.0 and closeness_to_threshold(1.0, 0.3) == 0.0
    assert closeness_to_threshold(0.15, 0.3) == pytest.approx(0.5)
    assert closeness_to_threshold(0.65, 0.3) == pytest.approx(0.5)


def test_queue_uncertainty_comes_from_the_active_models_stored_probabilities(active):
    sure, unsure, unscored = (corpus_report(external_id=e, text="There is a small nodule.") for e in "abc")
    keys = active.keys
    Stage1Prediction.objects.create(
        report=sure, model_version=active, probabilities=dict.fromkeys(keys, 0.001), predicted_keys=[]
    )
    near = {k: active.thresholds[k] for k in keys}
    Stage1Prediction.objects.create(
        report=unsure, model_version=active, probabilities=near, predicted_keys=keys
    )
    scores = uncertainty_provider([sure.pk, unsure.pk, unscored.pk])  # registered by InferenceConfig.ready()
    assert scores[unsure.pk] == pytest.approx(1.0) and scores[sure.pk] < 0.01 and unscored.pk not in scores
    ranks = queue_ranks(report_ids=[sure.pk, unsure.pk, unscored.pk], order="uncertainty")
    assert sorted(ranks, key=ranks.get) == [unsure.pk, sure.pk, unscored.pk]


def test_no_active_model_gives_no_uncertainty(chest_ct):
    report = corpus_report(external_id="x", text="There is a small nodule.")
    assert uncertainty_provider([report.pk]) == {}


@pytest.mark.django_db
def test_a_cohort_never_includes_a_superseded_revision(chest_ct, admin_user):
    old = ReportFactory(modality=chest_ct)
    new = report_revise(report=old, new_text="Corrected text.", user=admin_user, reason="typo")

    assert list(Cohort().queryset(chest_ct)) == [new]

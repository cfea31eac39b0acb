"""The one answer to "which stage 2 prediction stands for a report" and "which stage 1
model is active", pinned with predictions stored by the real services.

The rule (inference.selectors.stage2_current_predictions): the most recent OK
prediction a pipeline mode (llm, llm_hint, combined) stored for the pipeline;
the same-sentence baseline and evaluation runs never stand, a failed one never does."""

import pytest

from inference.models import Stage2Prediction
from inference.selectors import (
    model_version_active,
    model_versions_active,
    stage1_current_prediction,
    stage1_current_predictions,
    stage2_current_prediction,
    stage2_current_predictions,
    stage2_latest_pipeline_attempt,
)
from inference.services.evaluation import EvalItem, evaluate_modes
from inference.services.stage2 import stage2_predict_report
from tests.annotations.factories import ReportFactory
from tests.inference.factories import (
    CHEST_OUTPUT,
    CHEST_TEXT,
    ModelVersionFactory,
    ScriptedLLM,
    Stage1PredictionFactory,
    install,
)

pytestmark = pytest.mark.django_db

GOLD = {"lesions": {"nodule": {"status": "present", "locations": ["right upper lobe"]}}}
LEFT = {"nodule": {"s": "present", "l": ["left upper lobe"], "e": "8 mm nodule in the RUL"}}


@pytest.fixture
def report(chest_ct):
    return ReportFactory(modality=chest_ct, text=CHEST_TEXT)


@pytest.fixture
def llm(monkeypatch):
    return install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}))


def _nodule_locations(prediction: Stage2Prediction) -> list[str]:
    return next(f["locations"] for f in prediction.findings if f["key"] == "nodule")


def test_the_latest_of_two_pipeline_runs_stands(report, llm):
    first = stage2_predict_report(report=report, mode="llm")
    second = stage2_predict_report(report=report, mode="llm_hint")
    assert first.run_key != second.run_key
    assert stage2_current_prediction(report=report) == second
    # Running the first configuration again makes its row the newest.
    again = stage2_predict_report(report=report, mode="llm")
    assert again.pk == first.pk
    assert stage2_current_prediction(report=report) == first


def test_a_baseline_run_after_the_pipeline_run_does_not_change_what_stands(report, llm):
    pipeline = stage2_predict_report(report=report, mode="llm")
    baseline = stage2_predict_report(report=report, mode="rules")
    assert baseline.status == Stage2Prediction.Status.OK
    assert stage2_current_prediction(report=report) == pipeline
    assert stage2_current_predictions(report_ids=[report.pk]) == {report.pk: pipeline}


def test_a_baseline_prediction_alone_never_stands(report):
    stage2_predict_report(report=report, mode="rules")
    assert stage2_current_prediction(report=report) is None
    assert stage2_current_predictions(report_ids=[report.pk]) == {}


def test_an_evaluation_run_after_the_pipeline_run_does_not_change_what_stands(report, llm):
    pipeline = stage2_predict_report(report=report, mode="llm")
    llm.answers["8 mm nodule"] = LEFT
    result = evaluate_modes(items=[EvalItem(report, GOLD)], modes=["llm_hint", "rules"])
    assert result["modes"]["llm_hint"]["failed"] == 0
    evaluated = Stage2Prediction.objects.get(report=report, mode="llm_hint")
    assert evaluated.purpose == Stage2Prediction.Purpose.EVALUATION
    assert evaluated.stored_at > pipeline.stored_at
    assert stage2_current_prediction(report=report) == pipeline
    assert _nodule_locations(stage2_current_prediction(report=report)) == ["right upper lobe"]


def test_an_evaluation_recomputing_the_pipelines_row_does_not_demote_it(report, llm):
    first = stage2_predict_report(report=report, mode="llm")
    later = stage2_predict_report(report=report, mode="llm_hint")
    evaluate_modes(items=[EvalItem(report, GOLD)], modes=["llm"])  # the same run key as `first`
    first_again = Stage2Prediction.objects.get(pk=first.pk)
    assert first_again.purpose == Stage2Prediction.Purpose.PIPELINE
    assert first_again.stored_at == first.stored_at  # not made the newest by the evaluation
    assert stage2_current_prediction(report=report) == later


def test_the_pipeline_recomputing_an_evaluation_row_makes_it_a_pipeline_row(report, llm):
    evaluate_modes(items=[EvalItem(report, GOLD)], modes=["llm"])
    assert stage2_current_prediction(report=report) is None
    prediction = stage2_predict_report(report=report, mode="llm")
    assert prediction.purpose == Stage2Prediction.Purpose.PIPELINE
    assert stage2_current_prediction(report=report) == prediction


def test_a_failed_prediction_never_stands_and_the_one_before_it_does(report, llm):
    ok = stage2_predict_report(report=report, mode="llm")
    llm.answers["8 mm nodule"] = "not json at all"
    failed = stage2_predict_report(report=report, mode="llm_hint")
    assert failed.status == Stage2Prediction.Status.FAILED
    assert stage2_current_prediction(report=report) == ok
    assert stage2_latest_pipeline_attempt(report=report) == failed


def test_a_report_with_only_a_failed_prediction_has_none(report, monkeypatch):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": "not json at all"}))
    stage2_predict_report(report=report, mode="llm")
    assert stage2_current_prediction(report=report) is None
    assert stage2_current_predictions(report_ids=[report.pk]) == {}


def test_the_bulk_form_answers_per_report_as_the_single_one(chest_ct, llm):
    reports = [ReportFactory(modality=chest_ct, text=CHEST_TEXT) for _ in range(3)]
    stage2_predict_report(report=reports[0], mode="llm")
    stage2_predict_report(report=reports[0], mode="llm_hint")
    stage2_predict_report(report=reports[1], mode="rules")
    stage2_predict_report(report=reports[2], mode="llm")
    current = stage2_current_predictions(report_ids=[r.pk for r in reports])
    assert set(current) == {reports[0].pk, reports[2].pk}
    for r in (reports[0], reports[2]):
        assert current[r.pk] == stage2_current_prediction(report=r)
    assert current[reports[0].pk].mode == "llm_hint"


def test_active_model_version_by_modality_row_id_or_code(chest_ct, brain_mri):
    assert model_version_active(modality=chest_ct) is None
    ModelVersionFactory(modality=chest_ct, is_active=False)
    active = ModelVersionFactory(modality=chest_ct, is_active=True)
    for given in (chest_ct, chest_ct.pk, "chest_ct"):
        assert model_version_active(modality=given) == active
    assert model_version_active(modality=brain_mri) is None
    assert list(model_versions_active()) == [active]


def test_the_active_models_stage1_prediction_stands_over_a_newer_one_of_another_version(report):
    active = ModelVersionFactory(modality=report.modality, is_active=True)
    retired = ModelVersionFactory(modality=report.modality)
    mine = Stage1PredictionFactory(report=report, model_version=active, probabilities={"nodule": 0.9})
    Stage1PredictionFactory(report=report, model_version=retired, probabilities={"mass": 0.9})
    assert stage1_current_prediction(report=report) == mine
    assert stage1_current_predictions(report_ids=[report.pk]) == {report.pk: mine}


def test_without_an_active_model_the_newest_stage1_prediction_stands(report, chest_ct):
    older, newer = ModelVersionFactory(modality=chest_ct), ModelVersionFactory(modality=chest_ct)
    Stage1PredictionFactory(report=report, model_version=older, probabilities={"mass": 0.9})
    latest = Stage1PredictionFactory(report=report, model_version=newer, probabilities={"nodule": 0.9})
    other = ReportFactory(modality=chest_ct)
    assert stage1_current_prediction(report=report.pk) == latest
    assert stage1_current_predictions(report_ids=[report.pk, other.pk]) == {report.pk: latest}

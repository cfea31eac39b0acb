"""The demo pipeline end to end in eager mode: the real stage 2 (combined mode, whose
shipped policy asks no LLM), review sync, training, promotion, stage 1 and evaluation
jobs on a small demo corpus."""

import pytest
import torch
from django.core.management import call_command

from analytics.models import EvaluationRun
from annotations.models import Report
from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.start import demo_pipeline_start
from demo.services.pipeline.steps import demo_steps
from inference.models import ModelPromotion, ModelVersion, Stage1Prediction, Stage2Prediction
from inference.services.stage1 import predictor_cache_clear
from jobs.models import Job
from review.models import ReviewFinding, ReviewReport
from tests.inference.factories import ScriptedLLM, install

TINY = DemoOptions(
    preset="tiny",
    epochs=1,
    max_steps=4,
    stage2_mode="combined",  # the shipped question policy asks no LLM: none in tests
    stage2_reports=8,
    eval_modes=("bert", "rules", "combined"),
)


@pytest.fixture
def demo(db, settings, tmp_path):
    settings.DEBUG = True
    settings.DATA_DIR = tmp_path
    settings.MODEL_STORAGE_DIR = tmp_path / "models"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    predictor_cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core machine
    call_command("demo_setup", n=80, seed=3)
    yield
    torch.set_num_threads(threads)
    predictor_cache_clear()


def _start(capture, options=TINY):
    with capture(execute=True):
        return demo_pipeline_start(options=options)


def test_pipeline_leaves_active_models_predictions_review_items_and_evaluations(
    demo, django_capture_on_commit_callbacks
):
    job, created = _start(django_capture_on_commit_callbacks)
    job.refresh_from_db()

    assert created
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress_done == job.progress_total == len(demo_steps(TINY))
    for code in ("chest_ct", "brain_mri"):
        active = ModelVersion.objects.get(modality__code=code, is_active=True)
        promotion = ModelPromotion.objects.get(model_version=active)
        assert (promotion.reason, promotion.user.username) == ("demo bootstrap", "admin")
        reports = Report.objects.filter(modality__code=code).count()
        assert Stage1Prediction.objects.filter(model_version=active).count() == reports
    # Every step is its own succeeded job, recorded in the pipeline.
    steps = Job.objects.in_bulk(list(job.params["steps"].values()))
    assert set(job.params["steps"]) == {s.name for s in demo_steps(TINY)}
    assert {row.status for row in steps.values()} == {Job.Status.SUCCEEDED}
    # Stage 2 on 4 reports per modality, outside the held-out set, unlabelled ones first.
    cohort = [rid for code in ("chest_ct", "brain_mri") for rid in _cohort(job, code)]
    assert len(cohort) == 8
    assert Stage2Prediction.objects.filter(report_id__in=cohort, status="ok").count() == 8
    assert ReviewReport.objects.filter(report_id__in=cohort).count() == 8
    assert ReviewReport.objects.exclude(report_id__in=cohort).count() == 0
    assert ReviewFinding.objects.filter(report_id__in=cohort).exists()
    unlabelled = Report.objects.filter(pk__in=cohort, assignments__kind="annotation").distinct().count()
    assert unlabelled == 8  # the demo has 21 unlabelled reports; they come first
    runs = EvaluationRun.objects.filter(gold_set=EvaluationRun.GoldSet.HELDOUT)
    assert sorted(runs.values_list("modality__code", flat=True)) == ["brain_mri", "chest_ct"]
    for run in runs:
        assert run.job.status == Job.Status.SUCCEEDED, run.job.error
        assert set(run.results["modes"]) == {"bert", "rules", "combined"}


def _cohort(job: Job, code: str) -> list[int]:
    return Job.objects.get(pk=job.params["steps"][f"stage2_{code}"]).params["cohort"]["report_ids"]


def test_second_start_does_nothing_while_queued_or_done(demo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first, created = demo_pipeline_start(options=TINY)
    again, created_again = demo_pipeline_start(options=TINY)

    assert created and not created_again
    assert again.pk == first.pk
    assert Job.objects.filter(params__demo_pipeline=True).count() == 1


def test_a_failed_step_marks_later_steps_with_the_reason(demo, django_capture_on_commit_callbacks):
    broken = DemoOptions(preset="no-such-preset", stage2_mode="rules")

    job, _ = _start(django_capture_on_commit_callbacks, broken)
    job.refresh_from_db()

    assert job.status == Job.Status.FAILED
    assert "stage 1 training (chest_ct) failed" in job.error
    rows = Job.objects.in_bulk(list(job.params["steps"].values()))
    assert len(rows) == len(demo_steps(broken))  # a row per step: run, failed, or not run
    status = {name: rows[pk].status for name, pk in job.params["steps"].items()}
    # The review queue was filled before training: those steps stand.
    assert {status[name] for name in ("stage2_chest_ct", "stage2_brain_mri", "review_sync")} == {
        Job.Status.SUCCEEDED
    }
    names = [step.name for step in demo_steps(broken)]
    later = names[names.index("train_chest_ct") :]
    assert {status[name] for name in later} == {Job.Status.FAILED}
    not_run = [rows[job.params["steps"][name]] for name in later[1:]]
    assert all(row.error.startswith("not run:") and "unknown size preset" in row.error for row in not_run)
    assert ModelVersion.objects.filter(is_active=True).count() == 0


def test_a_stage2_run_where_every_report_failed_stops_the_pipeline(
    demo, monkeypatch, django_capture_on_commit_callbacks
):
    install(monkeypatch, ScriptedLLM({"": "not json at all"}))  # every report: invalid output
    options = DemoOptions(preset="tiny", epochs=1, max_steps=2, stage2_mode="llm_hint", stage2_reports=4)

    job, _ = _start(django_capture_on_commit_callbacks, options)
    job.refresh_from_db()

    assert job.status == Job.Status.FAILED
    assert "stage 2 llm_hint (chest_ct) failed" in job.error
    assert "all 2 reports failed" in job.error
    rows = Job.objects.in_bulk(list(job.params["steps"].values()))
    review = rows[job.params["steps"]["review_sync"]]
    assert review.status == Job.Status.FAILED
    assert review.error.startswith("not run: stage 2 llm_hint (chest_ct) failed")
    train = rows[job.params["steps"]["train_chest_ct"]]
    assert train.error.startswith("not run: stage 2 llm_hint (chest_ct) failed")


def test_the_review_queue_is_filled_by_the_combined_extractor_before_any_training():
    defaults = DemoOptions()
    names = [step.name for step in demo_steps(defaults)]
    assert defaults.stage2_mode == "combined"
    assert names.index("review_sync") < min(names.index("train_chest_ct"), names.index("train_brain_mri"))
    assert max(names.index("stage2_chest_ct"), names.index("stage2_brain_mri")) < names.index("review_sync")
    # The method's LLM-only modes are measured, next to the others, in the evaluation.
    assert {"llm", "llm_hint", "combined", "rules_engine", "bert"} <= set(defaults.eval_modes)

"""The combined mode as a stage 2 batch job (chest CT): the LLM only for the reports
the rules do not settle, idempotent rows per run key, resume, cancellation, an
unreachable server, the review queue with each finding's deciding source, and
brain MRI refused by the service, the form and the API."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from inference.ml.llm.backends import LLMUnavailable
from inference.ml.questions import QUESTION_TYPES
from inference.models import LLMQuestionType, Stage2Prediction
from inference.services.stage2 import (
    Cohort,
    stage2_job_create,
    stage2_job_work,
)
from jobs.models import Job
from jobs.services import job_cancel, job_run
from review.models import ReviewFinding
from tests.annotations.factories import ReportFactory
from tests.inference.factories import ModelVersionFactory, ScriptedLLM, Stage1PredictionFactory, install
from tests.jobs.factories import chunk_died

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_retries")]

SETTLED = "Atelectasis in both lower lobes. No pleural effusion."  # the rules decide everything
# A present lesion the rules leave unlocated, next to a sentence that names a lobe.
UNLOCATED = "The right upper lobe shows volume loss. There is a nodule. No pleural effusion."
NODULE_ANSWER = {"answer": ["right upper lobe"], "quote": "The right upper lobe shows"}


@pytest.fixture(autouse=True)
def asks_every_question(db):
    """The site asks the LLM every type of question (the shipped default asks none)."""
    for code in QUESTION_TYPES:
        LLMQuestionType.objects.create(code=code, asked=True, set_by="admin")


@pytest.fixture
def reports(chest_ct):
    when = datetime(2024, 3, 1, tzinfo=UTC)
    return [
        ReportFactory(modality=chest_ct, text=SETTLED, study_datetime=when),
        ReportFactory(modality=chest_ct, text=UNLOCATED, study_datetime=when),
    ]


def _run(job: Job) -> Job:
    job_run(job_id=job.pk, work=stage2_job_work)
    job.refresh_from_db()
    return job


def _finding(prediction: Stage2Prediction, key: str) -> dict:
    return next(f for f in prediction.findings if f["key"] == key)


def test_combined_job_asks_the_llm_only_for_the_report_that_needs_it(monkeypatch, reports):
    llm = install(monkeypatch, ScriptedLLM({"There is a nodule": NODULE_ANSWER}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="combined")
    assert job.params["run_key"].startswith("combined|chest_ct|") and "scripted-llm" in job.params["run_key"]
    job = _run(job)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.result["ok"], job.result["failed"], job.result["mode"]) == (2, 0, "combined")
    assert (job.progress_done, job.progress_total) == (2, 2)
    assert len(llm.calls) == 1  # the settled report never reached the LLM
    assert "There is a nodule" in llm.calls[0][0][-1]["content"]
    settled = Stage2Prediction.objects.get(report=reports[0], job=job)
    assert settled.mode == "combined" and settled.messages == [] and settled.llm_name == "scripted-llm"
    assert _finding(settled, "atelectasis")["source"] == "rules"
    assert settled.parsed["lesions"]["atelectasis"] == {
        "status": "present",
        "locations": ["right lower lobe", "left lower lobe"],
    }
    asked = Stage2Prediction.objects.get(report=reports[1], job=job)
    nodule = _finding(asked, "nodule")
    assert (nodule["source"], nodule["locations"]) == ("rules+llm", ["right upper lobe"])
    assert "no_location" in nodule["flags"] and nodule["sources"]["llm"]["location"]["quote_found"]
    assert asked.timings["llm_reasons"] == {"nodule": ["no_location"]}
    # Each report went into the review queue with its deciding source.
    row = ReviewFinding.objects.get(report=reports[1], key="nodule")
    assert row.ai["source"] == "rules+llm" and row.stage2_prediction_id == asked.pk
    assert row.locations == ["right upper lobe"] and "no_location" in row.flags
    assert ReviewFinding.objects.get(report=reports[0], key="atelectasis").ai["source"] == "rules"


def test_rerun_overwrites_its_rows_and_a_resumed_job_skips_done_reports(monkeypatch, reports):
    llm = install(monkeypatch, ScriptedLLM({"There is a nodule": NODULE_ANSWER}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="combined")
    stage2_job_work(job, backend_for=lambda t: llm.backend)
    Stage2Prediction.objects.filter(report=reports[0]).delete()  # the worker died before it
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    chunk_died(job)
    calls_before = len(llm.calls)
    job = _run(job)
    assert job.status == Job.Status.SUCCEEDED and job.result["resumed"] == 1
    assert len(llm.calls) == calls_before  # the unlocated report was not asked again
    assert Stage2Prediction.objects.filter(job=job).count() == 2
    _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="combined"))
    assert Stage2Prediction.objects.filter(mode="combined").count() == 2  # idempotent per run key


def test_cancelled_combined_job_stops_before_the_next_report(monkeypatch, reports):
    llm = install(monkeypatch, ScriptedLLM({"There is a nodule": NODULE_ANSWER}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="combined")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    assert job_cancel(job=job)
    job = _run(job)
    assert job.status == Job.Status.CANCELLED
    assert llm.calls == [] and not Stage2Prediction.objects.exists()


def test_unreachable_server_is_retried_then_the_report_is_stored_failed(monkeypatch, reports):
    down = LLMUnavailable("http://gpu:8080/v1 is unreachable")
    llm = install(monkeypatch, ScriptedLLM({"There is a nodule": down}))
    job = _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="combined"))
    assert job.status == Job.Status.SUCCEEDED
    assert (job.result["ok"], job.result["failed"]) == (1, 1)
    failed = Stage2Prediction.objects.get(report=reports[1])
    assert failed.status == "failed" and failed.attempts == 2  # RETRIES = 1
    assert failed.error.startswith("LLM server unreachable: LLMUnavailable")
    assert len(llm.calls) == 2 and f"report {reports[1].pk}: failed" in job.log


def test_a_broken_llm_answer_keeps_the_rules_and_flags_the_finding(monkeypatch, reports):
    install(monkeypatch, ScriptedLLM({"There is a nodule": '{"answer": ['}))
    job = _run(
        stage2_job_create(cohort=Cohort(modality="chest_ct", report_ids=(reports[1].pk,)), mode="combined")
    )
    prediction = Stage2Prediction.objects.get(job=job)
    assert prediction.status == "ok"
    nodule = _finding(prediction, "nodule")
    assert nodule["source"] == "rules" and "llm_failed" in nodule["flags"]
    assert ReviewFinding.objects.get(report=reports[1]).review.signals["llm_failed"] is True


def test_stage1_disagreement_goes_to_the_llm_which_decides(monkeypatch, chest_ct):
    report = ReportFactory(modality=chest_ct, text="No nodule is seen. No pleural effusion.")
    version = ModelVersionFactory(modality=chest_ct, is_active=True, thresholds={"nodule": 0.5})
    Stage1PredictionFactory(
        report=report, model_version=version, probabilities={"nodule": 0.97}, predicted_keys=["nodule"]
    )
    install(monkeypatch, ScriptedLLM({"No nodule": {"answer": "negated", "quote": "No nodule is seen"}}))
    job = _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="combined"))
    assert job.params["run_key"].endswith(f"|s1:{version.pk}")
    nodule = _finding(Stage2Prediction.objects.get(job=job), "nodule")
    assert (nodule["source"], nodule["status"]) == ("llm", "negated")
    assert "rules_stage1_disagree" in nodule["flags"]
    assert nodule["sources"]["stage1"] == {"prob": 0.97, "present": True}
    assert nodule["sources"]["rules"]["status"] == "negated"


def test_combined_maps_a_brain_mri_report_with_episodes_and_syncs_review(brain_mri):
    text = (
        "Known glioblastoma in the left frontal lobe. The enhancing component has increased in size "
        "since the prior study. Old lacunar infarct in the right thalamus."
    )
    report = ReportFactory(modality=brain_mri, text=text)
    job = stage2_job_create(cohort=Cohort(modality="brain_mri"), mode="combined")
    _run(job)
    prediction = Stage2Prediction.objects.get(report=report)
    assert prediction.parsed["diagnoses"]["glioma"] == {"status": "present", "episode": "progression"}
    assert prediction.parsed["non_tumor"] == ["stroke/infarction"]
    glioma = _finding(prediction, "glioma")
    assert text[slice(*glioma["episode_evidence_span"])] == "increased in size"
    assert ReviewFinding.objects.filter(report=report, key="glioma").exists()


def test_admin_starts_a_combined_run_from_the_form(monkeypatch, client, admin_user, reports):
    install(monkeypatch, ScriptedLLM())
    client.force_login(admin_user)
    page = client.get(reverse("inference:stage2_start")).content.decode()
    assert 'value="combined"' in page and "LLM only where needed (chest CT)" in page
    monkeypatch.setattr("inference.views.stage2.job_enqueue", lambda job, task: None)
    response = client.post(reverse("inference:stage2_start"), {"modality": "chest_ct", "mode": "combined"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.params["mode"] == "combined" and job.params["planned_reports"] == 2
    assert job.title == "Stage 2 (combined) on 2 chest_ct report(s)"

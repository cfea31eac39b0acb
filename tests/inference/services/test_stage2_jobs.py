"""The stage 2 batch job: cohort selection, progress, idempotent writes, resume after
a worker restart, cancellation, failures that do not stop the batch, and a server
that is down."""

from datetime import UTC, date, datetime

import pytest
from django.db.models import F

from annotations.models import EntityValue, Modality
from annotations.selectors import site_rules_forget
from inference.ml.llm.backends import LLMUnavailable
from inference.models import Stage2Prediction
from inference.services.stage2 import Cohort, Stage2Error, stage2_job_create, stage2_job_work
from inference.tasks.stage2 import stage2_batch_task
from jobs.models import Job
from jobs.services import job_cancel, job_run
from review.models import ReviewFinding, ReviewReport
from tests.annotations.factories import ReportFactory, entity_key
from tests.inference.factories import CHEST_OUTPUT, ScriptedLLM, install
from tests.jobs.factories import chunk_died

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_retries")]

GOOD = "8 mm nodule in the RUL."
BAD = "Mass in the LUL."


@pytest.fixture
def reports(chest_ct):
    when = datetime(2024, 3, 1, tzinfo=UTC)
    return [
        ReportFactory(
            modality=chest_ct, text=f"Report {i}: {GOOD}", patient_id=f"p{i % 2}", study_datetime=when
        )
        for i in range(4)
    ]


def _run(job: Job) -> Job:
    job_run(job_id=job.pk, work=stage2_job_work)
    job.refresh_from_db()
    return job


def test_batch_maps_every_report_of_the_cohort_with_progress(monkeypatch, reports):
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    job = _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.progress_done, job.progress_total) == (4, 4)
    assert job.result["ok"] == 4 and job.result["failed"] == 0
    run_key = job.params["run_key"]
    assert Stage2Prediction.objects.filter(run_key=run_key, status="ok", job=job).count() == 4


def test_batch_puts_each_mapped_report_into_the_review_queue(monkeypatch, reports):
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    job = _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert set(ReviewReport.objects.values_list("report_id", flat=True)) == {r.pk for r in reports}
    assert ReviewFinding.objects.filter(review__report=reports[0]).exists()


def test_cohort_filters_patients_dates_and_ids(monkeypatch, reports, chest_ct):
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    ReportFactory(modality=chest_ct, text=GOOD, study_datetime=datetime(2019, 1, 1, tzinfo=UTC))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct", patient_ids=("p1",)), mode="llm")
    assert job.params["planned_reports"] == 2
    dated = Cohort(modality="chest_ct", date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
    assert stage2_job_create(cohort=dated, mode="rules").params["planned_reports"] == 4
    ids = Cohort(modality="chest_ct", report_ids=(reports[0].pk, reports[3].pk))
    job = _run(stage2_job_create(cohort=ids, mode="llm"))
    assert set(Stage2Prediction.objects.filter(job=job).values_list("report_id", flat=True)) == {
        reports[0].pk,
        reports[3].pk,
    }


def test_only_missing_skips_reports_this_run_key_already_mapped(monkeypatch, reports):
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    _run(stage2_job_create(cohort=Cohort(modality="chest_ct", report_ids=(reports[0].pk,)), mode="llm"))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct", only_missing=True), mode="llm")
    assert job.params["planned_reports"] == 3
    _run(job)
    assert Stage2Prediction.objects.filter(mode="llm").count() == 4  # never duplicated


def test_resumed_job_skips_what_it_already_stored(monkeypatch, reports):
    llm = install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
    # A worker died after two reports: the job is still "running" and is redelivered.
    stage2_job_work(job, backend_for=lambda t: llm.backend)
    Stage2Prediction.objects.filter(report__in=reports[2:]).delete()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    chunk_died(job)
    calls_before = len(llm.calls)
    job = _run(job)
    assert job.status == Job.Status.SUCCEEDED
    assert len(llm.calls) - calls_before == 2
    assert job.result["resumed"] == 2
    assert Stage2Prediction.objects.filter(job=job).count() == 4


def test_a_failed_report_is_stored_and_the_batch_goes_on(monkeypatch, reports, chest_ct):
    bad = ReportFactory(modality=chest_ct, text=BAD)
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT, BAD: '{"mass": {"s": "present", '}))
    job = _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm"))
    assert job.status == Job.Status.SUCCEEDED
    assert (job.result["ok"], job.result["failed"]) == (4, 1)
    failed = Stage2Prediction.objects.get(report=bad)
    assert failed.status == "failed" and "not valid JSON" in failed.error
    assert failed.raw_output == '{"mass": {"s": "present", '
    assert f"report {bad.pk}: failed" in job.log


def test_per_report_timeout_fails_that_report_only(monkeypatch, settings, reports):
    settings.RADREVIEW_LLM = {**settings.RADREVIEW_LLM, "REPORT_TIMEOUT": 0.01}
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}, delay=0.05))
    job = _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm"))
    assert job.status == Job.Status.SUCCEEDED
    assert job.result["failed"] == 4
    assert all(p.error.startswith("timed out") for p in Stage2Prediction.objects.all())


def test_server_down_stops_the_job_after_a_few_reports(monkeypatch, reports):
    install(monkeypatch, ScriptedLLM({GOOD: LLMUnavailable("http://gpu:8080/v1 is unreachable")}))
    job = _run(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm"))
    assert job.status == Job.Status.FAILED
    assert "could not reach the LLM server" in job.error
    assert Stage2Prediction.objects.filter(status="failed").count() == 3  # stored, not lost


def test_cancelled_job_stops_before_the_next_report(monkeypatch, reports):
    llm = install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    assert job_cancel(job=job)
    job = _run(job)
    assert job.status == Job.Status.CANCELLED
    assert llm.calls == []


def test_a_job_resumes_with_the_schema_and_rules_it_started_with(monkeypatch, reports, chest_ct):
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="rules")
    # An annotator's "learn" adds an entity value after the job was created.
    EntityValue.objects.create(key=entity_key("nodule"), text="nodulette", kind="keyword")
    Modality.objects.filter(pk=chest_ct.pk).update(schema_version=F("schema_version") + 1)
    site_rules_forget()
    job = _run(job)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert set(Stage2Prediction.objects.filter(job=job).values_list("run_key", flat=True)) == {
        job.params["run_key"]
    }
    assert "version_changes" not in job.result


def test_an_llm_change_after_the_start_is_recorded_not_a_failure(monkeypatch, reports):
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
    Job.objects.filter(pk=job.pk).update(params={**job.params, "run_key": "llm|chest_ct|old"})
    job = _run(job)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["version_changes"][0].startswith("run key 'llm|chest_ct|old' -> ")
    assert "the LLM or prompt changed since this job started" in job.log


def test_empty_cohort_and_bad_dates_are_refused(reports):
    with pytest.raises(Stage2Error, match="no reports"):
        stage2_job_create(cohort=Cohort(modality="chest_ct", patient_ids=("nobody",)), mode="rules")
    with pytest.raises(Stage2Error, match="after the end date"):
        stage2_job_create(
            cohort=Cohort(
                modality="chest_ct",
                date_from=date(2024, 2, 1),
                date_to=date(2024, 1, 1),
            ),
            mode="rules",
        )


def test_celery_task_runs_the_job(monkeypatch, reports):
    install(monkeypatch, ScriptedLLM({GOOD: CHEST_OUTPUT}))
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="rules")
    stage2_batch_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result["ok"] == 4

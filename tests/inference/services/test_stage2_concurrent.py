"""Stage 2 batches against an OpenAI-compatible server with several requests in flight
(the fake server: fixed latency, answers derived from the prompt): the stored rows
equal a sequential run's, the window is bounded, every report enters the review
queue, and the in-process backend stays one at a time."""

import pytest

from inference.models import Stage2Prediction
from inference.services import stage2_backend
from inference.services.stage2 import Cohort, stage2_job_create, stage2_job_work
from jobs.models import Job
from jobs.services import job_run
from review.models import ReviewReport
from tests.annotations.factories import ReportFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_retries")]

TEXTS = [
    "8 mm nodule in the right upper lobe. No pleural effusion.",
    "Consolidation in the left lower lobe. Small pleural effusion.",
    "No nodule. Atelectasis in the right lower lobe.",
    "Bronchiectasis in both lungs.",
    "Normal chest.",
]
COMPARED = ("status", "parsed", "findings", "rejected", "raw_output", "error", "hint")


@pytest.fixture
def fake_server():
    from inference.ml.llm.servers import FakeLLMServer

    # Long enough that the read-ahead fills the window on a loaded CI machine too.
    with FakeLLMServer(latency=0.2) as server:
        yield server


@pytest.fixture
def reports(chest_ct):
    return [ReportFactory(modality=chest_ct, text=f"Report {i}. {TEXTS[i % len(TEXTS)]}") for i in range(20)]


def _configure(settings, server, max_in_flight):
    stage2_backend.llm_backend_reset()
    settings.RADREVIEW_LLM = {
        **settings.RADREVIEW_LLM,
        "BACKEND": "openai",
        "SERVER_URL": server.url,
        "MODEL": "fake-llm",
        "MAX_IN_FLIGHT": max_in_flight,
    }


def _run_and_snapshot():
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
    job_run(job_id=job.pk, work=stage2_job_work)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    rows = Stage2Prediction.objects.filter(run_key=job.params["run_key"]).order_by("report_id")
    return job, {row.report_id: tuple(getattr(row, name) for name in COMPARED) for row in rows}


def test_concurrent_results_equal_sequential_ones(settings, fake_server, reports):
    _configure(settings, fake_server, 1)
    _, sequential = _run_and_snapshot()
    assert fake_server.peak_in_flight == 1
    Stage2Prediction.objects.all().delete()
    fake_server.peak_in_flight = 0
    _configure(settings, fake_server, 8)
    job, concurrent = _run_and_snapshot()
    assert fake_server.peak_in_flight == 8
    assert concurrent == sequential
    assert len(concurrent) == 20
    assert {row[0] for row in concurrent.values()} == {"ok"}
    assert any(row[2] for row in concurrent.values())  # some reports have findings
    assert (job.progress_done, job.result["ok"]) == (20, 20)


def test_every_report_of_a_concurrent_batch_enters_the_review_queue(settings, fake_server, reports):
    _configure(settings, fake_server, 8)
    _run_and_snapshot()
    assert set(ReviewReport.objects.values_list("report_id", flat=True)) == {r.pk for r in reports}


def test_the_in_process_backend_stays_one_at_a_time(settings):
    settings.RADREVIEW_LLM = {**settings.RADREVIEW_LLM, "BACKEND": "llama_cpp", "MAX_IN_FLIGHT": 8}
    assert stage2_backend.llm_max_in_flight() == 1
    settings.RADREVIEW_LLM = {**settings.RADREVIEW_LLM, "BACKEND": "openai", "MAX_IN_FLIGHT": 8}
    assert stage2_backend.llm_max_in_flight() == 8


def test_a_server_that_is_down_stops_a_concurrent_batch(settings, reports):
    settings.RADREVIEW_LLM = {
        **settings.RADREVIEW_LLM,
        "BACKEND": "openai",
        "SERVER_URL": "http://127.0.0.1:9/v1",
        "MODEL": "fake-llm",
        "MAX_IN_FLIGHT": 4,
        "REQUEST_TIMEOUT": 2,
    }
    stage2_backend.llm_backend_reset()
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
    job_run(job_id=job.pk, work=stage2_job_work)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "could not reach the LLM server" in job.error
    assert Stage2Prediction.objects.filter(job=job).count() < 20


def test_review_hears_of_a_concurrent_batch_a_window_at_a_time(settings, fake_server, reports, monkeypatch):
    # With requests in flight only the last sync holds the chunk up, so each covers at
    # most a window's worth (one report at a time, up to NOTIFY_REPORTS).
    from inference import hooks

    groups = []
    tell = hooks.stage2_stored_many

    def counted(stored):
        groups.append(len(stored))
        tell(stored)

    monkeypatch.setattr(hooks, "stage2_stored_many", counted)
    _configure(settings, fake_server, 8)
    _run_and_snapshot()
    assert sum(groups) == 20 and max(groups) <= 8 and len(groups) >= 3
    assert set(ReviewReport.objects.values_list("report_id", flat=True)) == {r.pk for r in reports}

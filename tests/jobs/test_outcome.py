"""A finished job shows its final counts and duration, not its last progress message
(issue 18: "step 72/150 ... ETA 3m 32s" on a finished job); a running one keeps its
progress and ETA."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from jobs.selectors import job_outcome
from tests.jobs.factories import JobFactory

pytestmark = pytest.mark.django_db

STALE = "fine-tuning: step 72/150, epoch 3, loss 0.4121, ETA 3m 32s"


def _finished(**kwargs) -> Job:
    start = timezone.now() - timedelta(minutes=10)
    return JobFactory.create(started_at=start, finished_at=start + timedelta(minutes=3, seconds=7), **kwargs)


def test_a_finished_training_shows_the_gold_and_weak_labels_it_used():
    job = _finished(
        kind=Job.Kind.TRAIN,
        status=Job.Status.SUCCEEDED,
        progress_message=STALE,
        result={
            "model_version": 4,
            "name": "chest_ct-v2",
            "n_heldout": 75,
            "heldout_macro_f1": 0.4961,
            "data_counts": {"gold": 420, "weak": 1800, "approved": 0, "total": 2220},
        },
    )
    outcome = job_outcome(job)
    assert outcome is not None
    assert outcome.counts[:5] == [
        ("gold labels", "420"),
        ("weak labels", "1,800"),
        ("clinician-approved", "0"),
        ("reports in total", "2,220"),
        ("held-out macro F1", "49.6"),
    ]
    assert outcome.duration == "3m 07s"
    assert outcome.headline.startswith("Succeeded in 3m 07s: 420 gold labels, 1,800 weak labels")


def test_a_finished_import_shows_its_report_counts():
    result = {"ok": True, "fmt": "csv", "rows": 1200, "created": 1150, "updated": 50, "problems": []}
    outcome = job_outcome(_finished(kind=Job.Kind.IMPORT, status=Job.Status.SUCCEEDED, result=result))
    assert outcome is not None
    assert outcome.counts == [("rows read", "1,200"), ("created", "1,150"), ("updated", "50")]


def test_per_modality_results_are_labelled_by_modality():
    result = {"chest_ct": {"model_version": 3, "cohort": 40, "predicted_now": 38, "truncated": 2}}
    outcome = job_outcome(_finished(kind=Job.Kind.INFER, status=Job.Status.SUCCEEDED, result=result))
    assert outcome is not None
    assert outcome.counts == [
        ("chest_ct: in cohort", "40"),
        ("chest_ct: predicted now", "38"),
        ("chest_ct: truncated", "2"),
    ]


def test_a_failed_job_says_after_how_long():
    outcome = job_outcome(_finished(status=Job.Status.FAILED, result={}))
    assert outcome is not None and outcome.headline == "Failed after 3m 07s" and outcome.counts == []


def test_a_running_job_has_no_outcome():
    assert job_outcome(JobFactory(status=Job.Status.RUNNING, started_at=timezone.now())) is None
    assert job_outcome(JobFactory(status=Job.Status.QUEUED)) is None


def test_the_pages_show_final_counts_for_a_finished_job_and_no_stale_eta(admin_client):
    job = _finished(
        kind=Job.Kind.TRAIN,
        status=Job.Status.SUCCEEDED,
        progress_done=150,
        progress_total=150,
        progress_message=STALE,
        result={"data_counts": {"gold": 420, "weak": 1800}},
    )
    detail = admin_client.get(reverse("jobs:job_detail", args=[job.pk])).content.decode()
    listing = admin_client.get(reverse("jobs:job_list")).content.decode()
    for html in (detail, listing):
        assert "ETA 3m 32s" not in html and "step 72/150" not in html
        assert "420 gold labels" in html and "1,800 weak labels" in html
    assert "<dt>Duration</dt><dd>3m 07s</dd>" in detail


def test_the_pages_keep_progress_and_eta_for_a_running_job(admin_client):
    job = JobFactory(
        status=Job.Status.RUNNING,
        started_at=timezone.now() - timedelta(minutes=1),
        progress_done=50,
        progress_total=100,
        progress_message="fine-tuning: step 50/100",
    )
    detail = admin_client.get(reverse("jobs:job_detail", args=[job.pk])).content.decode()
    assert "fine-tuning: step 50/100" in detail and "<dt>ETA</dt>" in detail
    assert 'aria-valuenow="50"' in detail

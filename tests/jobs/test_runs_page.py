"""The runs page: filters by kind and status, failure reasons, links to start forms."""

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from tests.jobs.factories import JobFactory


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _titles(response) -> set[str]:
    return {row["job"].title for row in response.context["rows"]}


def test_filters_by_kind_and_status(admin_client):
    JobFactory(title="train ok", kind=Job.Kind.TRAIN, status=Job.Status.SUCCEEDED)
    JobFactory(title="train running", kind=Job.Kind.TRAIN, status=Job.Status.RUNNING)
    JobFactory(title="infer running", kind=Job.Kind.INFER, status=Job.Status.RUNNING)
    url = reverse("jobs:job_list")
    assert _titles(admin_client.get(url, {"kind": "train"})) == {"train ok", "train running"}
    assert _titles(admin_client.get(url, {"status": "running"})) == {"train running", "infer running"}
    assert _titles(admin_client.get(url, {"kind": "train", "status": "running"})) == {"train running"}
    # unknown values are ignored rather than failing
    assert len(_titles(admin_client.get(url, {"kind": "<script>", "status": "x"}))) == 3
    empty = admin_client.get(url, {"kind": "evaluate"})
    assert "No jobs match these filters." in empty.content.decode()


def test_pagination_keeps_the_filters(admin_client):
    JobFactory.create_batch(51, kind=Job.Kind.INFER)
    html = admin_client.get(reverse("jobs:job_list"), {"kind": "infer"}).content.decode()
    assert "?kind=infer&amp;page=2" in html or "?kind=infer&page=2" in html


def test_failed_jobs_show_their_failure_reason_in_the_list(admin_client):
    JobFactory(
        title="bad import", status=Job.Status.FAILED, error="ValueError: line 3 has no text" + "x" * 500
    )
    html = admin_client.get(reverse("jobs:job_list")).content.decode()
    assert "ValueError: line 3 has no text" in html
    assert "x" * 200 not in html  # only a preview; the whole reason is on the detail page


def test_failure_reason_is_escaped(admin_client):
    JobFactory(status=Job.Status.FAILED, error="<b>boom</b>")
    html = admin_client.get(reverse("jobs:job_list")).content.decode()
    assert "&lt;b&gt;boom&lt;/b&gt;" in html and "<b>boom</b>" not in html


def test_runs_page_links_to_the_start_forms_that_exist(admin_client):
    html = admin_client.get(reverse("jobs:job_list")).content.decode()
    assert f'href="{reverse("analytics:evaluation_list")}"' in html
    assert "Start evaluation" in html
    assert f'href="{reverse("inference:model_list")}#train-card"' in html  # the training form
    assert f'href="{reverse("inference:stage2_start")}"' in html


def test_polled_row_of_a_running_job_carries_elapsed_eta_and_cancel(admin_client):
    job = JobFactory(
        kind=Job.Kind.TRAIN,
        status=Job.Status.RUNNING,
        started_at=timezone.now() - timezone.timedelta(seconds=30),
        progress_done=10,
        progress_total=40,
    )
    html = admin_client.get(
        reverse("jobs:job_progress", args=[job.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "10 / 40 (25%)" in html
    assert "1m 30s" in html  # 30 s for 10, so 90 s for the remaining 30
    assert "Cancel" in html and 'hx-trigger="every 2s"' in html

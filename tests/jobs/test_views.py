"""The jobs screens: admins only, bounded queries, htmx fragments, cancel."""

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from tests.jobs.factories import JobFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _urls(job: Job) -> list[tuple[str, str]]:
    return [
        ("get", reverse("jobs:job_list")),
        ("get", reverse("jobs:job_detail", args=[job.pk])),
        ("get", reverse("jobs:job_progress", args=[job.pk])),
        ("post", reverse("jobs:job_cancel", args=[job.pk])),
    ]


@pytest.mark.parametrize("fixture", ["annotator", "clinician"])
def test_jobs_screens_are_forbidden_to_annotators_and_clinicians(client, request, fixture):
    client.force_login(request.getfixturevalue(fixture))
    job = JobFactory()
    for method, url in _urls(job):
        assert getattr(client, method)(url).status_code == 403, url
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    assert not job.cancel_requested


def test_anonymous_users_are_sent_to_login(client, db):
    job = JobFactory()
    for method, url in _urls(job):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_admin_sees_every_job_with_status_progress_and_creator(admin_client, admin_user):
    JobFactory(title="Import chest CT batch", kind=Job.Kind.IMPORT, created_by=admin_user)
    JobFactory(
        title="Train BERT",
        kind=Job.Kind.TRAIN,
        status=Job.Status.RUNNING,
        started_at=timezone.now() - timezone.timedelta(seconds=60),
        progress_done=25,
        progress_total=100,
    )
    response = admin_client.get(reverse("jobs:job_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Import chest CT batch" in html
    assert "Report import" in html
    assert "boss" in html
    assert "Train BERT" in html
    assert "25 / 100 (25%)" in html
    assert "3m 00s" in html  # ETA: 60 s for 25, so 180 s for the remaining 75


def test_job_list_query_count_does_not_grow_with_jobs(
    admin_client, admin_user, django_assert_max_num_queries
):
    JobFactory.create_batch(60, created_by=admin_user, status=Job.Status.RUNNING, started_at=timezone.now())
    # session, user, user and group permissions, role names, count, one page of jobs
    with django_assert_max_num_queries(7):
        response = admin_client.get(reverse("jobs:job_list"))
    assert response.status_code == 200
    assert response.content.decode().count('hx-trigger="every 2s"') == 50  # one page
    assert "Page 1 of 2" in response.content.decode()


def test_job_list_second_page_as_htmx_fragment(admin_client):
    JobFactory.create_batch(55)
    response = admin_client.get(reverse("jobs:job_list"), {"page": 2}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-table">')
    assert "<html" not in html
    assert html.count("<tr id=") == 5


def test_progress_partial_polls_while_running_and_stops_when_finished(admin_client):
    job = JobFactory(status=Job.Status.RUNNING, started_at=timezone.now())
    url = reverse("jobs:job_progress", args=[job.pk])
    html = admin_client.get(url, **HTMX).content.decode()
    assert html.lstrip().startswith(f'<tr id="job-{job.pk}"')
    assert 'hx-trigger="every 2s"' in html
    assert f'hx-get="{url}"' in html

    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, finished_at=timezone.now())
    html = admin_client.get(url, **HTMX).content.decode()
    assert "hx-trigger" not in html
    assert "Succeeded" in html


def test_detail_shows_params_result_error_and_log(admin_client):
    job = JobFactory(
        status=Job.Status.FAILED,
        params={"modality": "chest_ct", "limit": 10},
        result={"imported": 3},
        error="ValueError: bad row 4",
        log="[10:00:00] started\n",
        progress_message="row 4 of 10",
    )
    html = unescape(admin_client.get(reverse("jobs:job_detail", args=[job.pk])).content.decode())
    assert '"modality": "chest_ct"' in html
    assert '"imported": 3' in html
    assert "ValueError: bad row 4" in html
    assert "[10:00:00] started" in html
    assert "row 4 of 10" in html


def test_detail_escapes_job_text(admin_client):
    job = JobFactory(title="<script>alert(1)</script>", error="<b>boom</b>")
    html = admin_client.get(reverse("jobs:job_detail", args=[job.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;b&gt;boom&lt;/b&gt;" in html


def test_detail_htmx_request_gets_the_status_panel_only(admin_client):
    job = JobFactory(status=Job.Status.RUNNING, started_at=timezone.now())
    html = admin_client.get(reverse("jobs:job_detail", args=[job.pk]), **HTMX).content.decode()
    assert html.lstrip().startswith('<section id="job-status"')
    assert 'hx-trigger="every 2s"' in html
    assert "Parameters" not in html


def test_cancel_requires_post(admin_client):
    job = JobFactory()
    assert admin_client.get(reverse("jobs:job_cancel", args=[job.pk])).status_code == 405


def test_cancel_queued_job_from_the_list_cancels_it_and_returns_the_row(admin_client):
    job = JobFactory()
    response = admin_client.post(reverse("jobs:job_cancel", args=[job.pk]), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="job-{job.pk}"')
    assert "Cancelled" in html
    assert "hx-trigger" not in html
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_cancel_running_job_from_the_detail_page_requests_cancellation(admin_client):
    job = JobFactory(status=Job.Status.RUNNING, started_at=timezone.now())
    response = admin_client.post(reverse("jobs:job_cancel", args=[job.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("jobs:job_detail", args=[job.pk])
    assert "stops at its next progress report" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    assert job.cancel_requested


def test_cancel_needs_a_csrf_token(admin_user, db):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    job = JobFactory()
    assert strict.post(reverse("jobs:job_cancel", args=[job.pk]), **HTMX).status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_unknown_job_is_404(admin_client):
    assert admin_client.get(reverse("jobs:job_detail", args=[999_999])).status_code == 404

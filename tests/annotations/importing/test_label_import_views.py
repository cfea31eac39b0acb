"""The label import's page and API: role-checked like the report import, the upload's
type and encoding checked before a job exists, the worker's counts or line-level
problems on the status page and in the API."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotations.models import Assignment, GoldKeyLabel
from annotations.tasks import import_labels_task
from jobs.models import Job
from tests.annotations.factories import ReportFactory

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40)
GOOD = (
    json.dumps({"id": "r1", "gold": {"lesions": {"nodule": {"status": "present", "locations": []}}}}) + "\n"
)
BAD = GOOD + json.dumps({"id": "r9", "gold": {}}) + "\n"


@pytest.fixture
def report(chest_ct):
    return ReportFactory(source="site-a", external_id="r1", text="Small nodule.")


@pytest.fixture
def uploads(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    return settings.UPLOAD_DIR


@pytest.fixture
def sent(monkeypatch):
    """Job ids the views sent to the broker (the task is run by hand)."""
    ids: list[int] = []

    class Result:
        id = "task-1"

    def apply_async(args, queue):
        assert queue == "interactive"  # a label import never waits behind a training
        ids.append(args[0])
        return Result()

    monkeypatch.setattr(import_labels_task, "apply_async", apply_async)
    return ids


def _post(client, content: bytes, name: str = "labels.jsonl", **fields):
    data = {"source": "site-a", "label_source": "registry", "fmt": "auto", **fields}
    data["file"] = SimpleUploadedFile(name, content)
    return client.post(reverse("annotations:label_import_upload"), data)


def test_only_importers_reach_the_page_and_the_api(client, annotator, clinician, report, uploads):
    for user in (annotator, clinician):
        client.force_login(user)
        assert client.get(reverse("annotations:label_import_upload")).status_code == 403
        assert _post(client, GOOD.encode()).status_code == 403
        assert (
            client.post(
                "/api/label-imports/", {"source": "site-a", "content": GOOD}, "application/json"
            ).status_code
            == 403
        )
    assert not Job.objects.exists()


def test_a_png_is_refused_with_a_clear_message_before_a_job_exists(client, admin_user, report, uploads, sent):
    client.force_login(admin_user)
    response = _post(client, PNG, name="labels.csv", label_source="keep me")
    html = response.content.decode()
    assert response.status_code == 400 and "This file is a PNG image, not a CSV or JSONL text file." in html
    assert 'value="keep me"' in html  # the other choices survive the error
    assert client.get(reverse("annotations:label_import_upload")).status_code == 200
    cp949 = _post(client, "id,nodule\n결절,1\n".encode("cp949"), name="labels.csv")
    assert cp949.status_code == 400 and "not UTF-8 encoded" in cp949.content.decode()
    api = client.post("/api/label-imports/", {"source": "site-a", "file": SimpleUploadedFile("x.csv", PNG)})
    assert api.status_code == 400 and "PNG image" in api.json()["file"][0]
    assert not Job.objects.exists() and not sent and not list(uploads.glob("*"))


def test_a_good_upload_is_queued_and_its_page_shows_the_counts(
    client, admin_user, report, uploads, sent, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, GOOD.encode())
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "annotations:label_import_status", args=[job.pk]
    )
    assert sent == [job.pk] and job.params["what"] == "labels"
    import_labels_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    page = client.get(reverse("annotations:label_import_status", args=[job.pk])).content.decode()
    assert "Stored imported gold for 1 report" in page and 'id="label-import-counts"' in page
    stored = Assignment.objects.get()
    assert (stored.label_source, stored.import_job_id, stored.annotator_id) == (
        "registry",
        job.pk,
        admin_user.pk,
    )
    assert GoldKeyLabel.objects.get().status == "present"
    assert not list(uploads.glob("*"))  # the upload is deleted once imported


def test_a_bad_file_fails_its_job_and_lists_the_problems_by_line(client, admin_user, report, uploads, sent):
    client.force_login(admin_user)
    _post(client, BAD.encode())
    job = Job.objects.get()
    import_labels_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.result["problems"][0]["line"] == 2
    page = client.get(reverse("annotations:label_import_status", args=[job.pk])).content.decode()
    assert "No label was stored" in page and "no imported report with id &#x27;r9&#x27;" in page
    assert not Assignment.objects.exists()


def test_api_takes_the_file_text_as_json_and_answers_the_result(client, admin_user, report, uploads, sent):
    client.force_login(admin_user)
    response = client.post(
        "/api/label-imports/",
        {"source": "site-a", "label_source": "api", "fmt": "jsonl", "content": GOOD},
        "application/json",
    )
    assert response.status_code == 202
    job_id = response.json()["job"]
    import_labels_task(job_id)
    body = client.get(f"/api/label-imports/{job_id}/").json()
    assert body["status"] == "succeeded" and body["result"]["reports"] == 1
    assert body["params"]["label_source"] == "api"
    missing = client.post("/api/label-imports/", {"source": "site-a"}, "application/json")
    assert missing.status_code == 400 and "file" in missing.json()

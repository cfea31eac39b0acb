"""The import screens: admins upload a file, a worker imports it, the status
page polls until the job ends and then shows counts and problems."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotations.models import Report
from annotations.tasks import import_reports_task
from jobs.models import Job
from tests.jobs.factories import JobFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
SECRET = "우상엽 결절 secret text\r\n끝  "
CSV_BYTES = (
    "id,patient_id,study_datetime,modality,text\r\n"
    f'r1,PATIENT-1,2021-03-04,chest_ct,"{SECRET}"\r\n'
    "r2,PATIENT-2,2021-03-05,brain_mri,Glioma.\r\n"
).encode()


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def uploads(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    return settings.UPLOAD_DIR


@pytest.fixture
def sent(monkeypatch):
    """Job ids the upload view sent to the broker (the task is run by hand)."""
    ids: list[int] = []

    class Result:
        id = "task-1"

    def apply_async(args, queue):
        assert queue == "interactive"  # an import never waits behind heavy work
        ids.append(args[0])
        return Result()

    monkeypatch.setattr(import_reports_task, "apply_async", apply_async)
    return ids


def upload(client, content=CSV_BYTES, name="reports.csv", **fields):
    data = {"source": "hospital-a", "fmt": "auto", "on_duplicate": "skip", "modality": "", **fields}
    data["file"] = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(reverse("annotations:import_upload"), data)


def test_upload_page_shows_the_form_to_admins(admin_client):
    response = admin_client.get(reverse("annotations:import_upload"))

    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_upload_streams_the_file_to_upload_dir_creates_the_job_and_queues_the_task(
    admin_client, admin_user, uploads, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(admin_client)

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("annotations:import_status", args=[job.pk])
    assert (job.kind, job.status, job.created_by, job.celery_task_id) == (
        "import",
        "queued",
        admin_user,
        "task-1",
    )
    assert sent == [job.pk]
    saved = list(uploads.iterdir())
    assert [p.suffix for p in saved] == [".csv"]
    assert saved[0].read_bytes() == CSV_BYTES
    assert job.params | {"path": None} == {
        "path": None,
        "filename": "reports.csv",
        "fmt": "auto",
        "source": "hospital-a",
        "on_duplicate": "skip",
        "default_modality": None,
    }
    assert job.params["path"] == str(saved[0])
    assert Report.objects.count() == 0  # nothing is imported in the request


def test_task_imports_the_upload_deletes_it_and_the_status_page_shows_counts_but_no_text(
    admin_client, uploads, sent
):
    upload(admin_client)
    job = Job.objects.get()

    import_reports_task.run(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert (job.result["created"], job.result["rows"], job.result["ok"]) == (2, 2, True)
    assert Report.objects.get(external_id="r1").text == SECRET
    assert set(Report.objects.values_list("import_job", flat=True)) == {job.pk}
    assert list(uploads.iterdir()) == []
    page = admin_client.get(reverse("annotations:import_status", args=[job.pk])).content.decode()
    assert "Imported 2 rows as csv." in page
    assert "hx-trigger" not in page  # finished: no more polling
    for secret in ("secret text", "우상엽", "PATIENT-", "Glioma"):
        assert secret not in page


def test_upload_with_problems_fails_the_job_and_the_status_page_lists_them(admin_client, uploads, sent):
    bad = CSV_BYTES + b"r3,PATIENT-3,2021-03-06,knee_xr,   \r\n"
    upload(admin_client, content=bad)
    job = Job.objects.get()

    import_reports_task.run(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error.startswith("ImportRefused: csv: nothing imported: 2 problem(s)")
    assert [(p["line"], p["field"]) for p in job.result["problems"]] == [(5, "modality"), (5, "text")]
    assert Report.objects.count() == 0
    page = admin_client.get(reverse("annotations:import_status", args=[job.pk])).content.decode()
    assert "Nothing was imported" in page
    assert "<td>5</td><td>modality</td>" in page
    assert "PATIENT-" not in page and "secret" not in page


def test_task_for_a_cancelled_job_marks_it_cancelled_and_keeps_nothing(admin_client, uploads, sent):
    upload(admin_client)
    job = Job.objects.get()
    admin_client.post(reverse("annotations:import_cancel", args=[job.pk]))

    import_reports_task.run(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert Report.objects.count() == 0
    assert (
        "nothing from the file was kept"
        in admin_client.get(reverse("annotations:import_status", args=[job.pk])).content.decode()
    )


def test_cancel_of_a_running_import_is_recorded_and_the_task_rolls_back(admin_client, uploads, sent):
    upload(admin_client)
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)

    response = admin_client.post(reverse("annotations:import_cancel", args=[job.pk]))

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.cancel_requested
    import_reports_task.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert Report.objects.count() == 0


def test_status_fragment_polls_every_second_while_the_job_runs_and_stops_when_it_ends(admin_client, db):
    job = JobFactory(kind=Job.Kind.IMPORT, status=Job.Status.RUNNING, progress_done=30, progress_total=120)
    job.progress_message = "Checking: 2,000 rows"
    job.save()
    url = reverse("annotations:import_status", args=[job.pk])

    running = admin_client.get(url, **HTMX).content.decode()

    assert running.lstrip().startswith('<section id="import-status"')
    assert f'hx-get="{url}"' in running and 'hx-trigger="every 1s"' in running
    assert "Checking: 2,000 rows" in running and "width: 25%" in running
    assert "<h1>" not in running  # the fragment alone
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED, result={"ok": True, "rows": 0, "fmt": "csv"}
    )
    assert "hx-trigger" not in admin_client.get(url, **HTMX).content.decode()


def test_upload_rejects_a_file_over_import_max_file_bytes(admin_client, uploads, sent, settings):
    settings.IMPORT_MAX_FILE_BYTES = 100

    response = upload(admin_client)

    assert response.status_code == 200
    assert "the limit is 100" in response.content.decode()
    assert not Job.objects.exists()
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_upload_of_omop_requires_a_modality(admin_client, uploads, sent):
    response = upload(admin_client, fmt="omop")

    assert response.status_code == 200
    assert "OMOP NOTE files have no modality column" in response.content.decode()
    assert not Job.objects.exists()


def test_upload_of_omop_with_a_modality_passes_it_to_the_job(admin_client, uploads, sent):
    note = b"note_id,person_id,note_date,note_text\n1,2,2021-03-04,Glioma.\n"
    upload(admin_client, content=note, name="note.txt", fmt="omop", modality="brain_mri")
    job = Job.objects.get()
    assert job.params["default_modality"] == "brain_mri"

    import_reports_task.run(job.pk)

    assert Report.objects.get().modality.code == "brain_mri"


def test_upload_requires_the_csrf_token(admin_user, uploads, sent):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)

    assert upload(strict).status_code == 403
    assert not Job.objects.exists()


@pytest.mark.parametrize("fixture", ["annotator", "clinician"])
def test_import_screens_are_forbidden_to_annotators_and_clinicians(
    client, db, request, fixture, uploads, sent
):
    client.force_login(request.getfixturevalue(fixture))
    job = JobFactory(kind=Job.Kind.IMPORT)

    assert client.get(reverse("annotations:import_upload")).status_code == 403
    assert upload(client).status_code == 403
    assert client.get(reverse("annotations:import_status", args=[job.pk])).status_code == 403
    assert client.post(reverse("annotations:import_cancel", args=[job.pk])).status_code == 403
    assert Job.objects.count() == 1
    assert not uploads.exists()


def test_import_screens_send_anonymous_users_to_login(client, db):
    job = JobFactory(kind=Job.Kind.IMPORT)
    for url in (reverse("annotations:import_upload"), reverse("annotations:import_status", args=[job.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_status_page_is_only_for_import_jobs(admin_client, db):
    other = JobFactory(kind=Job.Kind.TRAIN)

    assert admin_client.get(reverse("annotations:import_status", args=[other.pk])).status_code == 404

"""Uploads are checked for type and encoding before a job is queued (issue 18):
radreview.uploads.text_upload_check, and each upload form (report import, label
import, evaluation gold file) refusing with a clear error and queueing nothing."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from analytics.models import EvaluationRun
from jobs.models import Job
from radreview.uploads import text_upload_check

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
GOOD_CSV = "id,patient_id,study_datetime,modality,text\nr1,P1,2021-03-04,chest_ct,Kleiner Knoten rechts.\n"
LATIN1 = "id,patient_id,study_datetime,modality,text\nr1,P1,2021-03-04,chest_ct,Größe 3 mm\n".encode(
    "latin-1"
)


def _zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("reports.csv", GOOD_CSV)
    return buffer.getvalue()


def _file(content: bytes, name: str = "reports.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


BAD = {
    "png": (PNG, "a PNG image"),
    "zip": (_zip(), "a ZIP archive"),
    "latin-1": (LATIN1, "not UTF-8 encoded: byte 72 (0xf6, on line 2)"),
    "empty": (b"", "The file is empty."),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_named_by_what_is_wrong(case):
    content, message = BAD[case]
    problem = text_upload_check(_file(content), {".csv"})
    assert problem is not None and message in problem


def test_a_good_utf8_file_passes_with_or_without_a_bom():
    assert text_upload_check(_file(GOOD_CSV.encode()), {".csv"}) is None
    assert text_upload_check(_file(b"\xef\xbb\xbf" + GOOD_CSV.encode()), {".csv"}) is None


def test_a_character_cut_between_chunks_is_not_an_error(monkeypatch):
    from radreview import uploads

    monkeypatch.setattr(uploads, "CHUNK_BYTES", 7)
    text = "id,text\n" + "우상엽 결절\n" * 20
    assert text_upload_check(_file(text.encode()), {".csv"}) is None


def test_the_bad_byte_is_found_past_the_first_chunk(monkeypatch):
    from radreview import uploads

    monkeypatch.setattr(uploads, "CHUNK_BYTES", 16)
    content = b"id,text\n" + b"a,fine\n" * 10 + b"b,caf\xe9\n"
    problem = text_upload_check(_file(content), {".csv"})
    assert problem is not None and f"byte {len(content) - 1} (0xe9, on line 12)" in problem


def test_a_wrong_suffix_and_white_space_only_are_refused():
    assert "a .png file: upload a .csv or .jsonl file" in (
        text_upload_check(_file(GOOD_CSV.encode(), "scan.png"), {".csv", ".jsonl"}) or ""
    )
    assert "nothing but white space" in (text_upload_check(_file(b" \n\r\n"), {".csv"}) or "")


def test_the_file_is_left_at_its_start():
    upload = _file(GOOD_CSV.encode())
    text_upload_check(upload, {".csv"})
    assert upload.read(2) == b"id"


# -- each form: a clear error, nothing queued --------------------------------------------------


@pytest.fixture
def uploads(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    return settings.UPLOAD_DIR


@pytest.mark.parametrize("case", list(BAD))
def test_the_report_import_form_refuses_a_bad_file(client, admin_user, uploads, case):
    content, message = BAD[case]
    client.force_login(admin_user)
    data = {"source": "hospital-a", "fmt": "auto", "on_duplicate": "update", "file": _file(content)}
    response = client.post(reverse("annotations:import_upload"), data)
    html = response.content.decode().replace("&#x27;", "'")
    assert message in html or (case == "empty" and "The submitted file is empty." in html)
    assert not Job.objects.exists() and not (uploads.exists() and any(uploads.iterdir()))


def test_the_report_import_form_queues_a_good_file(client, admin_user, uploads):
    client.force_login(admin_user)
    data = {"source": "hospital-a", "fmt": "auto", "on_duplicate": "skip", "file": _file(GOOD_CSV.encode())}
    response = client.post(reverse("annotations:import_upload"), data)
    assert response.status_code == 302 and Job.objects.filter(kind=Job.Kind.IMPORT).count() == 1


@pytest.mark.parametrize("case", list(BAD))
def test_the_label_import_form_refuses_a_bad_file(client, admin_user, uploads, case):
    content, message = BAD[case]
    client.force_login(admin_user)
    data = {"source": "hospital-a", "fmt": "auto", "file": _file(content, "labels.csv")}
    response = client.post(reverse("annotations:label_import_upload"), data)
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    assert message in html or (case == "empty" and "The submitted file is empty." in html)
    assert not Job.objects.exists()


def test_the_label_import_form_queues_a_good_file(client, admin_user, uploads):
    client.force_login(admin_user)
    labels = b"id,nodule\nr1,1\n"
    data = {"source": "hospital-a", "fmt": "auto", "file": _file(labels, "labels.csv")}
    response = client.post(reverse("annotations:label_import_upload"), data)
    assert response.status_code == 302 and Job.objects.count() == 1


@pytest.mark.parametrize("case", list(BAD))
def test_the_evaluation_form_refuses_a_bad_gold_file(client, admin_user, chest_ct, case):
    content, message = BAD[case]
    client.force_login(admin_user)
    data = {
        "modality": "chest_ct",
        "gold_set": "file",
        "modes": ["rules"],
        "gold_file": _file(content, "gold.jsonl"),
    }
    response = client.post(reverse("analytics:evaluation_create"), data)
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    assert message in html or (case == "empty" and "The submitted file is empty." in html)
    assert not EvaluationRun.objects.exists() and not Job.objects.exists()


def test_the_evaluation_form_accepts_a_good_gold_file(chest_ct):
    from analytics.forms import EvaluationStartForm

    line = b'{"id": "g1", "modality": "chest_ct", "text": "Kein Knoten.", "gold": {}}\n'
    form = EvaluationStartForm(
        {"modality": "chest_ct", "gold_set": "file", "modes": ["rules"]},
        {"gold_file": _file(line, "gold.jsonl")},
    )
    assert form.is_valid(), form.errors

"""reports_import reads CSV, JSONL and the OMOP CDM NOTE layout, and keeps the
text byte for byte."""

import hashlib
import json
from datetime import UTC, datetime

import pytest

from annotations.models import Report
from annotations.services.importing import reports_import
from tests.annotations.importing.files import HEADER, row, write_csv, write_jsonl

pytestmark = pytest.mark.django_db

OMOP_HEADER = (
    "note_id",
    "person_id",
    "note_date",
    "note_datetime",
    "note_type_concept_id",
    "note_class_concept_id",
    "note_title",
    "note_text",
    "encoding_concept_id",
    "language_concept_id",
)


def test_import_csv_creates_reports_with_aware_dates_modalities_and_hashes(tmp_path, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    path = write_csv(
        tmp_path / "reports.csv",
        [
            ("r1", "p1", "2021-03-04", "chest_ct", "Nodule.", "CT chest", "ignored"),
            ("r2", "p2", "2021-03-05 14:30", "Brain MRI", "Glioma.", "", "ignored"),
            ("r3", "p3", "2021-03-06T01:02:03+00:00", "CHEST CT", "Mass.", "", ""),
        ],
        header=(*HEADER, "title", "site"),
    )

    result = reports_import(path=path, source="hospital-a")

    assert result.ok, result.problems
    assert (result.fmt, result.rows, result.created, result.content_duplicates) == ("csv", 3, 3, 0)
    r1, r2, r3 = Report.objects.order_by("external_id")
    assert (r1.source, r1.patient_id, r1.modality.code, r1.title) == (
        "hospital-a",
        "p1",
        "chest_ct",
        "CT chest",
    )
    assert r1.study_datetime == datetime(2021, 3, 3, 15, 0, tzinfo=UTC)  # midnight in Seoul
    assert r2.modality.code == "brain_mri"
    assert r2.study_datetime == datetime(2021, 3, 5, 5, 30, tzinfo=UTC)
    assert r3.study_datetime == datetime(2021, 3, 6, 1, 2, 3, tzinfo=UTC)
    assert r3.modality.code == "chest_ct"
    assert r1.content_hash == hashlib.sha256(b"Nodule.").hexdigest()


def test_import_jsonl_accepts_integer_ids_and_ignores_extra_keys_such_as_gold(tmp_path):
    gold = {"lesions": {"nodule": {"status": "present", "locations": ["right upper lobe"]}}}
    path = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {
                "id": 17,
                "modality": "chest_ct",
                "text": "Nodule.",
                "patient_id": 5,
                "study_datetime": "2021-03-04",
            },
            {
                "id": "r2",
                "modality": "brain_mri",
                "text": "Glioma.",
                "patient_id": "p2",
                "study_datetime": "2020-01-02",
            },
        ],
    )
    with path.open("a", encoding="utf-8") as fh:  # a gold record, and a blank line, are fine
        fh.write('\n{"id": "r3", "modality": "chest_ct", "text": "Mass.", "patient_id": "p3", ')
        fh.write(f'"study_datetime": "2021-01-01", "gold": {json.dumps(gold)}}}\n')

    result = reports_import(path=path, source="gold-set")

    assert result.ok, result.problems
    assert (result.fmt, result.rows, result.created) == ("jsonl", 3, 3)
    assert Report.objects.get(external_id="17").patient_id == "5"
    assert set(Report.objects.values_list("external_id", flat=True)) == {"17", "r2", "r3"}


def test_import_omop_note_csv_is_detected_and_uses_the_chosen_modality(tmp_path, settings):
    settings.TIME_ZONE = "UTC"
    path = write_csv(
        tmp_path / "note.csv",
        [
            (
                "1001",
                "42",
                "2021-03-04",
                "2021-03-04 09:15:00",
                "44814637",
                "",
                "CT CHEST",
                "Nodule.",
                "0",
                "4175777",
            ),
            ("1002", "43", "2021-03-05", "", "44814637", "", "", "No nodule.", "0", "4175777"),
        ],
        header=OMOP_HEADER,
    )

    result = reports_import(path=path, source="omop-site", default_modality="chest_ct")

    assert result.ok, result.problems
    assert (result.fmt, result.created) == ("omop", 2)
    first = Report.objects.get(external_id="1001")
    assert (first.patient_id, first.title, first.text, first.modality.code) == (
        "42",
        "CT CHEST",
        "Nodule.",
        "chest_ct",
    )
    assert first.study_datetime == datetime(2021, 3, 4, 9, 15, tzinfo=UTC)  # note_datetime wins
    assert Report.objects.get(external_id="1002").study_datetime == datetime(2021, 3, 5, tzinfo=UTC)


def test_import_omop_note_jsonl_is_detected_by_its_keys(tmp_path):
    path = write_jsonl(
        tmp_path / "note.jsonl",
        [
            {
                "note_id": 1,
                "person_id": 9,
                "note_date": "2021-03-04",
                "note_text": "Glioma.",
                "note_title": "MR",
            }
        ],
    )

    result = reports_import(path=path, source="omop-site", default_modality="Brain MRI")

    assert result.ok, result.problems
    assert result.fmt == "omop"
    assert Report.objects.get(external_id="1").modality.code == "brain_mri"


def test_import_omop_without_a_modality_is_refused_and_keeps_nothing(tmp_path):
    path = write_csv(
        tmp_path / "note.csv", [("1", "2", "2021-03-04", "", "", "", "", "Nodule.", "", "")], OMOP_HEADER
    )

    result = reports_import(path=path, source="omop-site")

    assert not result.ok
    assert [(p.line, p.field) for p in result.problems] == [(1, "modality")]
    assert "choose the modality" in result.problems[0].message
    assert Report.objects.count() == 0


def test_import_format_auto_sniffs_jsonl_in_a_file_without_extension(tmp_path):
    path = write_jsonl(
        tmp_path / "upload",
        [{"id": "a", "patient_id": "p", "study_datetime": "2021-03-04", "modality": "chest_ct", "text": "x"}],
    )

    result = reports_import(path=path, source="s")

    assert (result.ok, result.fmt, result.created) == (True, "jsonl", 1)


def test_import_file_without_modality_column_uses_the_default_modality(tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        [("r1", "p1", "2021-03-04", "Nodule.")],
        ("id", "patient_id", "study_datetime", "text"),
    )

    result = reports_import(path=path, source="s", default_modality="brain_mri")

    assert result.ok, result.problems
    assert Report.objects.get().modality.code == "brain_mri"


MIXED = '우상엽에 간유리음영(GGO) 있음.\r\nImpression:\tsmall nodule 😀, "quoted", comma  \n\n끝.  \t'


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_import_keeps_korean_crlf_tabs_emoji_and_trailing_spaces_byte_exact(tmp_path, fmt):
    if fmt == "csv":
        path = write_csv(tmp_path / "r.csv", [row(1, text=MIXED), row(2)])
    else:
        record = dict(zip(HEADER, row(1, text=MIXED), strict=True))
        path = write_jsonl(tmp_path / "r.jsonl", [record, dict(zip(HEADER, row(2), strict=True))])

    result = reports_import(path=path, source="s", fmt=fmt)

    assert result.ok, result.problems
    report = Report.objects.get(external_id="r1")
    assert report.text == MIXED
    assert report.text.encode("utf-8") == MIXED.encode("utf-8")
    assert report.content_hash == hashlib.sha256(MIXED.encode("utf-8")).hexdigest()


def test_import_accepts_a_utf8_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbfid,patient_id,study_datetime,modality,text\r\nr1,p1,2021-03-04,chest_ct,Nodule.\r\n"
    )

    result = reports_import(path=path, source="s")

    assert result.ok, result.problems
    assert Report.objects.get().external_id == "r1"

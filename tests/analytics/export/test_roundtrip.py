"""An OMOP CDM NOTE extract imported into RadReview comes back out of the NOTE
export unchanged, the export imports again to the same reports, and NOTE_NLP
rows point at the notes by their original note_id."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from analytics.export import ExportFilters, ExportSpec, export_lines
from annotations.models import Report
from annotations.services.importing import reports_import
from tests.inference.factories import Stage2PredictionFactory

pytestmark = pytest.mark.django_db

EXTRACT = [
    # note_id, person_id, note_date, note_datetime, note_title, note_text
    (
        "1001",
        "42",
        "2021-03-04",
        "2021-03-04 09:30:00",
        "CT chest",
        "Small nodule in the RUL.\r\nNo effusion.",
    ),
    ("1002", "42", "2021-06-01", "", "CT chest, f/u", 'Nodule "stable", 우상엽 결절 변화 없음; GGO 🫁.'),
    (
        "1003",
        "77",
        "2022-01-09",
        "2022-01-09T23:59:59+09:00",
        "",
        "Line 1\nLine 2, with a comma\n\n  spaces  ",
    ),
]
HEADER = [
    "note_id",
    "person_id",
    "note_date",
    "note_datetime",
    "note_title",
    "note_text",
    "note_type_concept_id",
]


def write_extract(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows([(*row, "32817") for row in EXTRACT])
    return path


def export_text(**filters: Any) -> str:
    return "".join(export_lines(ExportSpec(fmt="note", filters=ExportFilters(**filters))))


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def imported(tmp_path, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    result = reports_import(
        path=write_extract(tmp_path / "note.csv"), fmt="omop", source="site", default_modality="chest_ct"
    )
    assert result.ok and result.created == 3, result.problems
    return result


def test_note_export_gives_back_the_extract(imported):
    rows = parse(export_text(source="site"))
    assert [(r["note_id"], r["person_id"], r["note_title"], r["note_text"]) for r in rows] == [
        (note_id, person, title, text) for note_id, person, _d, _dt, title, text in EXTRACT
    ]
    # Dates: the same instants (a date alone is midnight in the site's time zone).
    assert [datetime.fromisoformat(r["note_datetime"]) for r in rows] == [
        datetime.fromisoformat("2021-03-04T09:30:00+09:00"),
        datetime.fromisoformat("2021-06-01T00:00:00+09:00"),
        datetime.fromisoformat("2022-01-09T23:59:59+09:00"),
    ]
    assert [r["note_date"] for r in rows] == ["2021-03-04", "2021-06-01", "2022-01-09"]
    assert {r["encoding_concept_id"] for r in rows} == {"32678"}


def test_the_export_imports_again_to_the_same_reports(imported, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(export_text(source="site"), encoding="utf-8", newline="")

    again = reports_import(path=path, fmt="omop", source="copy", default_modality="chest_ct")

    assert again.ok and again.created == 3, again.problems
    fields = ("external_id", "patient_id", "study_datetime", "title", "text", "content_hash", "modality_id")
    original = list(Report.objects.filter(source="site").order_by("external_id").values_list(*fields))
    copy = list(Report.objects.filter(source="copy").order_by("external_id").values_list(*fields))
    assert copy == original
    # And into the same source, it changes nothing.
    same = reports_import(
        path=path, fmt="omop", source="site", on_duplicate="update", default_modality="chest_ct"
    )
    assert (same.unchanged, same.updated, same.created) == (3, 0, 0)


def test_note_nlp_rows_reference_the_original_note_ids(imported):
    for r in Report.objects.filter(source="site"):
        Stage2PredictionFactory(
            report=r, findings=[{"key": "nodule", "status": "present", "kind": "lesion", "locations": []}]
        )
    notes = {r["note_id"] for r in parse(export_text(source="site"))}
    spec = ExportSpec(fmt="note_nlp", labels=("unverified",), filters=ExportFilters(source="site"))
    nlp = parse("".join(export_lines(spec)))
    assert sorted(r["note_id"] for r in nlp) == ["1001", "1002", "1003"]
    assert {r["note_id"] for r in nlp} <= notes

"""Every CSV export is safe to open in a spreadsheet: a report text or key that starts
with a formula character comes out escaped and quoted, and the NOTE export still
imports back to the same texts (issue 17; radreview/spreadsheet.py)."""

from __future__ import annotations

import csv
import io

import pytest

from analytics.export import ExportFilters, ExportSpec, export_lines
from annotations.models import Report
from annotations.services.importing import reports_import
from radreview.spreadsheet import FORMULA_START
from tests.annotations.factories import ReportFactory
from tests.inference.factories import Stage2PredictionFactory

pytestmark = pytest.mark.django_db

# Tab and carriage return first, then a formula character: what OWASP lists.
STARTS = ["=", "+", "-", "@", "\t=", "\r="]


def export(fmt: str, **spec: object) -> str:
    return "".join(export_lines(ExportSpec(fmt=fmt, filters=ExportFilters(source="test"), **spec)))  # type: ignore[arg-type]


def cells(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_starts_cover_every_formula_character():
    assert {s[0] for s in STARTS} == set(FORMULA_START)


@pytest.mark.parametrize("start", STARTS)
def test_a_report_text_starting_with_a_formula_character_is_escaped_in_the_note_export(start):
    ReportFactory(text=f'{start}HYPERLINK("http://evil","x") nodule')
    text = export("note")
    assert [r["note_text"] for r in cells(text)] == [f'\'{start}HYPERLINK("http://evil","x") nodule']
    assert f',"\'{start}HYPERLINK(""http://evil""' in text  # and quoted


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("fmt", ["csv", "note_nlp"])
def test_a_key_starting_with_a_formula_character_is_escaped_in_the_findings_exports(start, fmt):
    key = f"{start}cmd|' /C calc'!A0"
    report = ReportFactory(text="Small nodule in the RUL.")
    Stage2PredictionFactory(
        report=report, findings=[{"key": key, "status": "present", "kind": "lesion", "locations": []}]
    )
    rows = cells(export(fmt, labels=("unverified",)))
    assert len(rows) == 1
    for value in rows[0].values():
        assert not value.startswith(tuple(FORMULA_START)), value
    if fmt == "csv":
        assert rows[0]["key"] == "'" + key
    else:
        assert f"key={key}" in rows[0]["term_modifiers"]


def test_an_escaped_note_export_imports_back_to_the_same_texts(tmp_path):
    texts = [f"{start}1+1 nodule" for start in ("=", "+", "-", "@")] + ["'=already quoted", "- bullet"]
    for text in texts:
        ReportFactory(extract=True, text=text)
    path = tmp_path / "note.csv"
    path.write_text(export("note"), encoding="utf-8", newline="")

    result = reports_import(path=path, fmt="omop", source="copy", default_modality="chest_ct")

    assert result.ok and result.created == len(texts), result.problems
    assert sorted(Report.objects.filter(source="copy").values_list("text", flat=True)) == sorted(texts)

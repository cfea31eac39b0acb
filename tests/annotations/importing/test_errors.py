"""Bad input gets a clear error with its line number, and nothing is imported."""

import json
import logging

import pytest

from annotations.models import Report
from annotations.services.importing import reports_import
from tests.annotations.importing.files import HEADER, row, write_csv, write_jsonl

pytestmark = pytest.mark.django_db


def problems_of(path, **kwargs):
    result = reports_import(path=path, source=kwargs.pop("source", "s"), **kwargs)
    assert not result.ok
    assert (result.created, result.updated) == (0, 0)
    assert Report.objects.count() == 0
    return [(p.line, p.field, p.message) for p in result.problems]


def test_import_rejects_missing_columns_on_line_1_naming_missing_and_found(tmp_path):
    path = write_csv(tmp_path / "r.csv", [("r1", "Nodule.", "x")], header=("id", "text", "extra"))

    [(line, field, message)] = problems_of(path)

    assert (line, field) == (1, "header")
    assert "missing required column(s): patient_id, study_datetime, modality" in message
    assert "found: id, text, extra" in message


def test_import_missing_columns_of_a_headerless_file_do_not_echo_its_first_row(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("r1,PATIENT-123,2021-03-04,chest_ct,Secret nodule text\n", encoding="utf-8")

    [(line, _field, message)] = problems_of(path)

    assert line == 1
    assert "does not look like a header" in message
    assert "PATIENT-123" not in message and "Secret" not in message


def test_import_suggests_omop_when_the_csv_format_was_chosen_for_an_omop_file(tmp_path):
    path = write_csv(tmp_path / "n.csv", [], header=("note_id", "person_id", "note_date", "note_text"))

    [(_line, _field, message)] = problems_of(path, fmt="csv")

    assert "choose the format omop" in message


def test_import_rejects_non_utf8_naming_the_line_and_keeps_nothing(tmp_path):
    path = tmp_path / "cp949.csv"
    path.write_bytes(
        b"id,patient_id,study_datetime,modality,text\n"
        b"r1,p1,2021-03-04,chest_ct,Nodule.\n" + "r2,p2,2021-03-04,chest_ct,간유리음영\n".encode("cp949")
    )

    [(line, field, message)] = problems_of(path)

    assert (line, field) == (3, "file")
    assert "not valid UTF-8" in message and "must be UTF-8" in message


@pytest.mark.parametrize("text", ["", "   ", "\r\n\t "])
def test_import_rejects_empty_or_whitespace_text_and_keeps_nothing(tmp_path, text):
    path = write_csv(
        tmp_path / "r.csv",
        [row(1), row(2, text=text) if text else ("r2", "p2", "2021-03-04", "chest_ct", "")],
    )

    assert problems_of(path) == [(3, "text", "empty report text")]


def test_import_rejects_unknown_modality_listing_the_known_codes(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(1), row(2, modality="knee_xr")])

    assert problems_of(path) == [
        (3, "modality", "unknown modality 'knee_xr'; known codes: brain_mri, chest_ct")
    ]


def test_import_rejects_text_over_report_max_chars_saying_length_and_limit(tmp_path, settings):
    settings.REPORT_MAX_CHARS = 50
    path = write_csv(tmp_path / "r.csv", [row(1), row(2, text="가" * 51)])

    assert problems_of(path) == [(3, "text", "report text is 51 characters; the limit is 50")]


def test_import_rejects_malformed_dates_showing_the_value_truncated(tmp_path):
    long_value = "2021-02-30T10:00:00 but then a very long tail of garbage"
    path = write_csv(
        tmp_path / "r.csv",
        [("r1", "p1", "2021-13-45", "chest_ct", "x"), ("r2", "p2", long_value, "chest_ct", "x")],
    )

    [(l1, f1, m1), (l2, f2, m2)] = problems_of(path)

    assert (l1, f1, l2, f2) == (2, "study_datetime", 3, "study_datetime")
    assert m1.endswith(": '2021-13-45'")
    assert m2.endswith(": '2021-02-30T10:00:00 but then a very long…'")


def test_import_rejects_a_malformed_json_line_and_keeps_nothing(tmp_path):
    good = dict(zip(HEADER, row(1), strict=True))
    path = write_jsonl(tmp_path / "r.jsonl", [good])
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "r2", "text": "unterminated\n["a list"]\n')

    problems = problems_of(path)

    assert [(line, field) for line, field, _ in problems] == [(2, "file"), (3, "file")]
    assert problems[0][2].startswith("malformed JSON: ")
    assert problems[1][2] == "must be one JSON object {...}"


def test_import_rejects_missing_id_and_missing_jsonl_keys(tmp_path):
    records = [
        dict(zip(HEADER, row(1), strict=True)),
        {"patient_id": "p2", "modality": "chest_ct", "study_datetime": "2021-01-01"},
    ]
    path = write_jsonl(tmp_path / "r.jsonl", records)

    assert problems_of(path) == [(2, "id", "missing id"), (2, "text", "empty report text")]


def test_import_rejects_the_same_id_twice_naming_both_lines(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(1), row(2), ("r1", "p9", "2021-03-04", "chest_ct", "other")])

    assert problems_of(path) == [(4, "id", "the same id appears on lines 2 and 4")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file has no reports"),
        (b"  \n\n", "the file has no reports"),
        (b"id,patient_id,study_datetime,modality,text\n", "no reports after the header"),
    ],
)
def test_import_rejects_an_empty_file(tmp_path, content, message):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)

    assert problems_of(path) == [(1, "file", message)]


def test_import_gives_the_start_line_of_a_csv_record_with_multiline_text(tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        [
            row(1, text="line one\nline two\r\nline three"),
            ("r2", "p2", "2021-03-04", "chest_ct", "a\nb\nc"),
            ("r3", "", "2021-03-04", "chest_ct", "x"),
        ],
    )

    assert problems_of(path) == [(8, "patient_id", "missing patient id")]  # lines 2-4, 5-7, 8


def test_import_rejects_broken_csv_quoting_from_the_record_where_it_starts(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        'id,patient_id,study_datetime,modality,text\nr1,p1,2021-03-04,chest_ct,"never closed\nmore\n',
        encoding="utf-8",
    )

    [(line, field, message)] = problems_of(path)

    assert (line, field) == (2, "file")
    assert "not valid CSV" in message


def test_import_rejects_rows_with_the_wrong_number_of_fields(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(1), ("r2", "p2", "2021-03-04", "chest_ct")])

    assert problems_of(path) == [(3, "file", "has 4 fields but the header has 5")]


def test_import_lists_100_problems_then_says_how_many_more(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(n, modality="nope") for n in range(150)])

    result = reports_import(path=path, source="s")

    assert not result.ok
    assert len(result.problems) == 100
    assert result.problems_omitted == 50
    assert result.problems[-1].line == 101
    assert "150 problem(s)" in result.summary()
    assert Report.objects.count() == 0


def test_import_problems_and_logs_carry_no_report_text_or_patient_ids(tmp_path, caplog, settings):
    settings.REPORT_MAX_CHARS = 40
    secret_text = "Secret findings of Mr Kim 김철수 " * 2
    path = write_csv(
        tmp_path / "r.csv",
        [
            ("r1", "PATIENT-777", "someday", "chest_ct", secret_text),
            ("r2", "PATIENT-778", "2021-03-04", "unknown", "   "),
            ("r1", "PATIENT-779", "2021-03-04", "chest_ct", "Nodule."),
        ],
    )
    caplog.set_level(logging.DEBUG)

    result = reports_import(path=path, source="s")

    shown = " ".join(str(p) for p in result.problems) + result.summary() + caplog.text
    assert not result.ok and len(result.problems) == 5
    for secret in ("PATIENT-77", "Secret", "김철수", "Nodule"):
        assert secret not in shown


def test_import_rejects_nul_characters_and_lone_surrogates(tmp_path):
    records = [
        dict(zip(HEADER, row(1, text="a\x00b"), strict=True)),
        dict(zip(HEADER, row(2, text="a\ud800b"), strict=True)),
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")  # escapes both

    problems = problems_of(path)

    assert [(line, field) for line, field, _ in problems] == [(1, "text"), (2, "text")]
    assert "NUL" in problems[0][2] and "surrogate" in problems[1][2]


def test_import_with_invalid_arguments_raises_value_error(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(1)])

    for kwargs in (
        {"fmt": "xml"},
        {"on_duplicate": "merge"},
        {"default_modality": "knee_xr"},
        {"source": " "},
    ):
        with pytest.raises(ValueError):
            reports_import(path=path, **{"source": "s", **kwargs})
    assert Report.objects.count() == 0

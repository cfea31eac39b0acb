"""manage.py import_reports: a one-line summary, or the problems and a non-zero exit."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotations.models import Report
from tests.annotations.importing.files import row, write_csv, write_jsonl

pytestmark = pytest.mark.django_db


def run(*args, **options):
    out, err = StringIO(), StringIO()
    call_command("import_reports", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_command_imports_and_prints_a_one_line_summary(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(1), row(2), row(3, text="Report 1: small nodule in the RUL.")])

    out, err = run(str(path), "--source", "hospital-a")

    assert out.strip().splitlines() == [
        "csv: 3 row(s): 3 created, 0 updated, 0 unchanged, 0 skipped, 1 content duplicate(s)"
    ]
    assert err == ""
    assert Report.objects.filter(source="hospital-a").count() == 3


def test_command_on_duplicate_update_and_verbose_lists_content_duplicates(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(1), row(2, text="Same."), row(3, text="Same.")])
    run(str(path), "--source", "s")
    changed = write_csv(tmp_path / "r2.csv", [row(1, text="Changed."), row(2, text="Same.")])

    out, _ = run(str(changed), "--source", "s", "--on-duplicate", "update", verbosity=2)

    assert "1 updated, 1 unchanged" in out
    assert Report.objects.current().get(external_id="r1").text == "Changed."  # a new revision


def test_command_prints_each_problem_with_its_line_and_exits_non_zero_keeping_nothing(tmp_path):
    path = write_csv(
        tmp_path / "r.csv", [row(1), row(2, modality="xray"), ("r3", "p3", "03/04/2021", "chest_ct", "x")]
    )
    err = StringIO()

    with pytest.raises(CommandError, match=r"nothing imported: 2 problem\(s\) in 3 row\(s\)"):
        call_command("import_reports", str(path), "--source", "s", stdout=StringIO(), stderr=err)

    lines = err.getvalue().splitlines()
    assert lines[0] == "line 3: modality: unknown modality 'xray'; known codes: brain_mri, chest_ct"
    assert lines[1].startswith("line 4: study_datetime: not an ISO 8601 date")
    assert Report.objects.count() == 0


def test_command_reads_omop_with_the_modality_option(tmp_path):
    record = {
        "note_id": 7,
        "person_id": 1,
        "note_date": "2021-03-04",
        "note_text": "Glioma.",
        "note_type_concept_id": 1,
    }
    path = write_jsonl(tmp_path / "note.jsonl", [record])

    out, _ = run(str(path), "--source", "omop", "--format", "omop", "--modality", "brain_mri")

    assert out.startswith("omop: 1 row(s): 1 created")
    assert Report.objects.get().modality.code == "brain_mri"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--modality", "knee_xr"], "unknown modality 'knee_xr'"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_command_rejects_bad_options(tmp_path, args, message):
    path = write_csv(tmp_path / "r.csv", [row(1)])

    with pytest.raises(CommandError, match=message):
        run(str(path), "--source", "s", *args)


def test_command_rejects_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "nope.csv"), "--source", "s")

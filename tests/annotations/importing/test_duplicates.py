"""Ids already imported from the same source are skipped or updated; the same
text under another id is imported, counted and listed."""

import hashlib

import pytest

from annotations.models import Modality, Report
from annotations.services.importing import ContentDuplicate, reports_import
from tests.annotations.factories import ReportFactory
from tests.annotations.importing.files import row, write_csv

pytestmark = pytest.mark.django_db


def test_import_skip_policy_counts_existing_ids_as_skipped_and_changes_nothing(tmp_path):
    existing = ReportFactory(source="s", external_id="r1", text="Old text.")
    path = write_csv(tmp_path / "r.csv", [row(1, text="New text."), row(2)])

    result = reports_import(path=path, source="s", on_duplicate="skip")

    assert (result.ok, result.created, result.skipped, result.updated, result.unchanged) == (True, 1, 1, 0, 0)
    existing.refresh_from_db()
    assert existing.text == "Old text."


def test_import_update_policy_revises_changed_reports_and_counts_unchanged_ones(tmp_path, brain_mri):
    reports_import(
        path=write_csv(tmp_path / "a.csv", [row(1, text="Same."), row(2, text="Old.")]), source="s"
    )
    path = write_csv(
        tmp_path / "b.csv", [row(1, text="Same."), row(2, text="New.", modality="brain_mri"), row(3)]
    )

    result = reports_import(path=path, source="s", on_duplicate="update")

    assert (result.ok, result.created, result.updated, result.unchanged, result.skipped) == (True, 1, 1, 1, 0)
    # A changed text is a new revision (issue 16): the old report is kept, superseded.
    changed = Report.objects.current().get(external_id="r2")
    old = Report.objects.get(external_id="r2", superseded_at__isnull=False)
    assert (changed.text, changed.modality, changed.content_hash, changed.revision_of) == (
        "New.",
        brain_mri,
        hashlib.sha256(b"New.").hexdigest(),
        old,
    )
    assert (old.text, old.content_hash) == ("Old.", hashlib.sha256(b"Old.").hexdigest())
    assert Report.objects.get(external_id="r1").text == "Same."
    assert Report.objects.current().filter(source="s").count() == 3
    assert Report.objects.filter(source="s").count() == 4


def test_import_update_policy_changes_other_fields_in_place_when_the_text_is_the_same(tmp_path, brain_mri):
    reports_import(path=write_csv(tmp_path / "a.csv", [row(1, text="Same.")]), source="s")
    path = write_csv(tmp_path / "b.csv", [row(1, text="Same.", modality="brain_mri")])

    result = reports_import(path=path, source="s", on_duplicate="update")

    report = Report.objects.get(external_id="r1")
    assert (result.updated, report.modality, report.revision_of, report.superseded_at) == (
        1,
        brain_mri,
        None,
        None,
    )
    assert report.updated_at > report.created_at


def test_import_update_policy_counts_a_report_whose_fields_are_identical_as_unchanged(tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(1), row(2)])
    reports_import(path=path, source="s")
    before = dict(Report.objects.values_list("external_id", "updated_at"))

    result = reports_import(path=path, source="s", on_duplicate="update")

    assert (result.created, result.updated, result.unchanged, result.content_duplicates) == (0, 0, 2, 0)
    assert dict(Report.objects.values_list("external_id", "updated_at")) == before


def test_import_same_external_id_under_another_source_is_a_new_report(tmp_path):
    ReportFactory(source="other", external_id="r1", text="Different.")
    path = write_csv(tmp_path / "r.csv", [row(1)])

    result = reports_import(path=path, source="s")

    assert (result.created, result.skipped) == (1, 0)
    assert Report.objects.filter(external_id="r1").count() == 2


def test_import_counts_and_lists_content_duplicates_in_the_database_and_earlier_in_the_file(
    tmp_path, settings
):
    settings.IMPORT_BATCH_SIZE = 3  # duplicates within a batch and across batches
    ReportFactory(source="old", external_id="x9", text="No acute findings.")
    path = write_csv(
        tmp_path / "r.csv",
        [
            row(1, text="No acute findings."),  # same as the report already in the database
            row(2, text="Nodule."),
            row(3, text="Nodule."),  # same as line 3, same batch
            row(4, text="Unique."),
            row(5, text="Nodule."),  # same as r2, an earlier batch
        ],
    )

    result = reports_import(path=path, source="s")

    assert (result.ok, result.created, result.content_duplicates) == (True, 5, 3)
    assert result.content_duplicate_rows == [
        ContentDuplicate(line=2, external_id="r1", same_as="old:x9"),
        ContentDuplicate(line=4, external_id="r3", same_as="line 3"),
        ContentDuplicate(line=6, external_id="r5", same_as="s:r2"),
    ]
    assert Report.objects.filter(content_hash=hashlib.sha256(b"Nodule.").hexdigest()).count() == 3
    assert result.as_dict()["content_duplicate_rows"][0] == {
        "line": 2,
        "external_id": "r1",
        "same_as": "old:x9",
    }


def test_import_update_to_the_text_of_another_report_is_a_content_duplicate(tmp_path):
    ReportFactory(source="s", external_id="r1", text="Original.")
    ReportFactory(source="s", external_id="r2", text="Shared.")
    path = write_csv(tmp_path / "r.csv", [row(1, text="Shared.")])

    result = reports_import(path=path, source="s", on_duplicate="update")

    assert (result.updated, result.content_duplicates) == (1, 1)
    assert result.content_duplicate_rows[0].same_as == "s:r2"


def test_import_looks_up_modalities_once_not_per_row(tmp_path, django_assert_max_num_queries):
    Modality.objects.create(code="abdomen_ct", name="Abdomen CT")
    path = write_csv(tmp_path / "r.csv", [row(n, modality="Abdomen CT") for n in range(30)])

    with django_assert_max_num_queries(12):
        result = reports_import(path=path, source="s")

    assert result.created == 30
    assert set(Report.objects.values_list("modality__code", flat=True)) == {"abdomen_ct"}

"""The label import (issue 15, item 3): gold-file JSONL and 0/1 CSV labels for imported
reports become imported gold with their label source; every bad input is a line-level
problem and nothing is stored. Hand-written reports and labels only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotations import selectors
from annotations.models import Assignment, EntityKey, GoldKeyLabel, Mention, Relation
from annotations.services.label_import import labels_import
from inference.services.stage1_data import gold_key_sets, gold_report_ids
from tests.annotations.factories import ReportFactory, modality

SOURCE = "site-a"
TEXTS = {
    "r1": "Small nodule in the right upper lobe. No pleural effusion.",
    "r2": "Possible consolidation in the left lower lobe.",
    "r3": "Normal chest CT.",
}
BRAIN = "Enlarging metastasis in the left frontal lobe. Old infarct in the right pons."


@pytest.fixture
def reports(chest_ct, brain_mri):
    out = {ext: ReportFactory(source=SOURCE, external_id=ext, text=text) for ext, text in TEXTS.items()}
    out["b1"] = ReportFactory(source=SOURCE, external_id="b1", text=BRAIN, modality=modality("brain_mri"))
    return out


def _jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8"
    )
    return path


def _good_lines() -> list[dict]:
    nodule = TEXTS["r1"].index("nodule")
    rul = TEXTS["r1"].index("right upper lobe")
    return [
        {
            "id": "r1",
            "modality": "chest_ct",
            "text": TEXTS["r1"],
            "gold": {
                "lesions": {
                    "nodule": {"status": "present", "locations": ["right upper lobe"]},
                    "pleural effusion": {"status": "negated", "locations": []},
                }
            },
            "mentions": [
                {"key": "nodule", "start": nodule, "end": nodule + 6, "text": "nodule"},
                {"key": "right upper lobe", "start": rul, "end": rul + 16},
            ],
            "pairs": [{"source": 0, "targets": [1]}],
        },
        # The hedged-finding flag some label sets carry instead of the status; extra fields ignored.
        {
            "id": "r2",
            "gold": {"lesions": {"consolidation": {"status": "present", "uncertain": True, "locations": []}}},
            "evidence": {"consolidation": ["Possible consolidation"]},
        },
        {"id": "r3", "gold": {}},
        {
            "id": "b1",
            "gold": {
                "diagnoses": {
                    "metastasis": {"status": "present", "episode": "progression"},
                    "other non-tumor": {"status": "present"},
                },
                "non_tumor": ["stroke/infarction"],
            },
        },
    ]


def _statuses(report) -> dict[str, str]:
    gold = selectors.gold_assignment_ids(report_ids=[report.pk])
    statuses = selectors.key_statuses(assignment_ids=list(gold.values()))[gold[report.pk]]
    names = dict(EntityKey.objects.values_list("pk", "name"))
    return {names[k]: s for k, s in statuses.items()}


def _stored() -> tuple[int, int, int, int]:
    return (
        Assignment.objects.count(),
        GoldKeyLabel.objects.count(),
        Mention.objects.count(),
        Relation.objects.count(),
    )


def test_a_gold_file_becomes_imported_gold_with_its_label_source(tmp_path, reports, admin_user):
    result = labels_import(
        path=_jsonl(tmp_path / "labels.jsonl", _good_lines()),
        source=SOURCE,
        label_source="registry-2024",
        user=admin_user,
    )

    assert result.ok, result.problems
    assert (
        result.fmt,
        result.rows,
        result.reports,
        result.mentions,
        result.relations,
        result.no_findings,
    ) == (
        "jsonl",
        4,
        4,
        2,
        2,  # r1's pair of mentions, b1's metastasis -> progression from its summary
        1,
    )
    assert _statuses(reports["r1"]) == {
        "nodule": "present",
        "pleural effusion": "negated",
        "right upper lobe": "present",
    }
    assert _statuses(reports["r2"]) == {"consolidation": "uncertain"}
    assert _statuses(reports["r3"]) == {}
    assert _statuses(reports["b1"]) == {
        "metastasis": "present",
        "other non-tumor": "present",
        "stroke/infarction": "present",
    }
    versions = Assignment.objects.all()
    assert {(a.kind, a.status, a.annotator_id, a.label_source) for a in versions} == {
        (Assignment.Kind.IMPORTED, Assignment.Status.SUBMITTED, admin_user.pk, "registry-2024")
    }
    assert Assignment.objects.get(report=reports["r3"]).no_findings
    relation = Relation.objects.select_related("source_key", "target_key").get(report=reports["r1"])
    assert (relation.source_key.name, relation.target_key.name) == ("nodule", "right upper lobe")
    # Stored as gold: stage 1 training reads them (report-level keys, locations left out).
    chest = [r.pk for r in reports.values() if r.modality.code == "chest_ct"]
    assert set(gold_report_ids("chest_ct")) == set(chest)
    assert gold_key_sets(chest)[reports["r2"].pk] == {"consolidation"}


def test_a_csv_of_zeros_and_ones_becomes_report_level_gold(tmp_path, reports, admin_user):
    path = tmp_path / "labels.csv"
    path.write_text(
        "id,nodule,Pleural Effusion,consolidation,modality\n"
        "r1,1,0,0,chest_ct\nr2,0,0,1,\nr3,0,0,0,chest_ct\n",
        encoding="utf-8",
    )

    result = labels_import(path=path, source=SOURCE, label_source="", user=admin_user)

    assert result.ok, result.problems
    assert (result.fmt, result.reports, result.no_findings) == ("csv", 3, 1)
    assert _statuses(reports["r1"]) == {"nodule": "present"}  # 0 is absent, not negated
    assert _statuses(reports["r2"]) == {"consolidation": "present"}
    assert _statuses(reports["r3"]) == {}
    assert set(Assignment.objects.values_list("label_source", flat=True)) == {"labels.csv"}


def test_importing_again_replaces_the_earlier_import_without_duplicates(
    tmp_path, reports, admin_user, annotator
):
    path = _jsonl(tmp_path / "labels.jsonl", _good_lines())
    labels_import(path=path, source=SOURCE, label_source="v1", user=admin_user)
    first = _stored()

    again = labels_import(path=path, source=SOURCE, label_source="v2", user=annotator)

    assert (again.reports, again.replaced) == (4, 4)
    assert _stored() == first
    assert set(Assignment.objects.values_list("label_source", flat=True)) == {"v2"}


JSONL_BAD = {
    "unknown key": (
        {"id": "r2", "gold": {"lesions": {"tumour of the soul": {"status": "present"}}}},
        "gold",
        "unknown key 'tumour of the soul'",
    ),
    "unknown report": (
        {"id": "zz-9", "gold": {}},
        "id",
        "no imported report with id 'zz-9' in source 'site-a'",
    ),
    "bad status": (
        {"id": "r2", "gold": {"lesions": {"nodule": {"status": "maybe"}}}},
        "gold",
        "status must be one of",
    ),
    "duplicate": ({"id": "r1", "gold": {}}, "id", "id 'r1' already appears on line 1"),
    "malformed JSON": ('{"id": "r2", "gold": {', "file", "malformed JSON"),
    "no labels": ({"id": "r2"}, "gold", 'needs "gold"'),
    "wrong modality": (
        {"id": "r2", "modality": "brain_mri", "gold": {}},
        "modality",
        "differs from the imported report's",
    ),
    "negated and uncertain": (
        {"id": "r2", "gold": {"lesions": {"nodule": {"status": "negated", "uncertain": True}}}},
        "gold",
        "cannot be uncertain",
    ),
}


@pytest.mark.parametrize("case", list(JSONL_BAD))
def test_each_bad_jsonl_line_is_named_and_nothing_is_stored(tmp_path, reports, admin_user, case):
    bad, field, message = JSONL_BAD[case]
    lines = [{"id": "r1", "gold": {"lesions": {"nodule": {"status": "present", "locations": []}}}}, bad]

    result = labels_import(
        path=_jsonl(tmp_path / "bad.jsonl", lines), source=SOURCE, label_source="x", user=admin_user
    )

    assert not result.ok
    (problem,) = result.problems
    assert (problem.line, problem.field) == (2, field)
    assert message in problem.message
    assert _stored() == (0, 0, 0, 0)  # line 1 was good: all or nothing


CSV_BAD = {
    "unknown key column": ("id,nodule,tumour\nr1,1,0\n", 1, "header", "unknown key column(s): tumour"),
    "location column": (
        "id,nodule,right upper lobe\nr1,1,1\n",
        1,
        "header",
        "location / episode keys are not report-level",
    ),
    "no id column": ("report,nodule\nr1,1\n", 1, "header", 'missing the report identifier column "id"'),
    "bad value": ("id,nodule\nr1,1\nr2,2\n", 3, "nodule", "must be 0 or 1"),
    "empty value": ("id,nodule\nr1,1\nr2,\n", 3, "nodule", "must be 0 or 1"),
    "duplicate": ("id,nodule\nr1,1\nr1,0\n", 3, "id", "already appears on line 2"),
    "unknown report": ("id,nodule\nr1,1\nzz,1\n", 3, "id", "no imported report with id 'zz'"),
    "key of another modality": (
        "id,nodule,glioma\nr1,1,0\nr2,0,1\n",
        3,
        "glioma",
        "is a brain_mri key; this report is chest_ct",
    ),
}


@pytest.mark.parametrize("case", list(CSV_BAD))
def test_each_bad_csv_line_is_named_and_nothing_is_stored(tmp_path, reports, admin_user, case):
    text, line, field, message = CSV_BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")

    result = labels_import(path=path, source=SOURCE, label_source="x", user=admin_user)

    assert not result.ok
    (problem,) = result.problems
    assert (problem.line, problem.field) == (line, field)
    assert message in problem.message
    assert _stored() == (0, 0, 0, 0)


def test_every_bad_line_is_listed_and_earlier_gold_is_kept(tmp_path, reports, admin_user):
    labels_import(
        path=_jsonl(tmp_path / "good.jsonl", _good_lines()), source=SOURCE, label_source="v1", user=admin_user
    )
    before = _stored()
    changed = {"id": "r1", "gold": {"lesions": {"mass": {"status": "present", "locations": []}}}}
    lines = [changed, {"id": "nope", "gold": {}}, {"id": "r2", "gold": {"lesions": {"nodule": {}}}}]

    result = labels_import(
        path=_jsonl(tmp_path / "bad.jsonl", lines), source=SOURCE, label_source="v2", user=admin_user
    )

    assert [(p.line, p.field) for p in result.problems] == [(2, "id"), (3, "gold")]
    assert _stored() == before
    assert _statuses(reports["r1"])["nodule"] == "present" and "mass" not in _statuses(reports["r1"])
    assert set(Assignment.objects.values_list("label_source", flat=True)) == {"v1"}


def test_a_file_that_is_not_utf8_or_empty_is_refused(tmp_path, reports, admin_user):
    path = tmp_path / "labels.csv"
    path.write_bytes("id,nodule\nr1,1\n결절,1\n".encode("cp949"))
    result = labels_import(path=path, source=SOURCE, label_source="x", user=admin_user)
    assert not result.ok and "not valid UTF-8" in result.problems[0].message and result.problems[0].line == 3
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    result = labels_import(path=empty, source=SOURCE, label_source="x", user=admin_user)
    assert [p.message for p in result.problems] == ["the file has no labels"]
    assert _stored() == (0, 0, 0, 0)

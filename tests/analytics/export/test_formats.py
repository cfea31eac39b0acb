"""Export formats parse, agree with each other, and keep verified, unverified and
gold findings apart (analytics/export)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from analytics.export import ExportFilters, ExportSpec, export_lines
from analytics.export.formats import FLAT_COLUMNS, NOTE_NLP_COLUMNS, PAIRED_SEPARATOR
from annotations.models import Assignment, Relation
from review.models import ReviewFinding, ReviewReport
from tests.annotations.factories import (
    CHEST_TEXT,
    ReportFactory,
    entity_key,
    imported_gold,
    modality,
    span_of,
)
from tests.inference.factories import ModelVersionFactory, Stage1PredictionFactory, Stage2PredictionFactory
from tests.radreview.factories import UserFactory

pytestmark = pytest.mark.django_db


def text_of(spec: ExportSpec) -> str:
    return "".join(export_lines(spec))


def jsonl(spec: ExportSpec) -> list[dict]:
    return [json.loads(line) for line in text_of(spec).splitlines()]


def csv_rows(spec: ExportSpec) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text_of(spec), newline="")))


def nodule_finding() -> dict:
    return {
        "key": "nodule",
        "status": "present",
        "kind": "lesion",
        "locations": ["right upper lobe"],
        "evidence": "Small nodule in the RUL",
        "evidence_span": span_of(CHEST_TEXT, "Small nodule in the RUL"),
    }


def verified_review(rep, clinician):
    decided = datetime(2023, 5, 6, 7, 8, tzinfo=UTC)
    review = ReviewReport.objects.create(
        report=rep, status=ReviewReport.Status.VERIFIED, verified_at=decided, verified_by=clinician
    )
    start, end = span_of(rep.text, "Small nodule in the RUL")
    common = {
        "review": review,
        "report": rep,
        "kind": "lesion",
        "decided_by": clinician,
        "decided_at": decided,
    }
    ReviewFinding.objects.create(
        key="nodule",
        status=ReviewFinding.Status.EDITED,
        locations=["right upper lobe", "right lung"],
        evidence="Small nodule in the RUL",
        evidence_start=start,
        evidence_end=end,
        model_version_name="ct-v1",
        **common,
    )
    ReviewFinding.objects.create(key="mass", status=ReviewFinding.Status.REJECTED, **common)
    return review


@pytest.fixture
def corpus():
    """r1 verified (and predicted), r2 stage 2 only, r3 stage 1 only, r4 gold only."""
    clinician = UserFactory(username="dr-who")
    r1, r2, r3, r4 = (
        ReportFactory(extract=True, external_id=f"r{i}", patient_id=f"p{i}") for i in (1, 2, 3, 4)
    )
    Stage2PredictionFactory(report=r1, findings=[nodule_finding()])
    verified_review(r1, clinician)
    Stage2PredictionFactory(
        report=r2,
        findings=[
            nodule_finding(),
            {
                "key": "pleural effusion",
                "status": "negated",
                "kind": "lesion",
                "evidence": "No pleural effusion",
            },
        ],
    )
    Stage2PredictionFactory(  # the baseline is not exported
        report=r2, findings=[{"key": "mass", "status": "present"}], mode="rules"
    )
    Stage1PredictionFactory(
        report=r3,
        model_version=ModelVersionFactory(name="ct-v1", is_active=True),
        probabilities={"nodule": 0.91, "mass": 0.2},
    )
    imported_gold(r4)
    return r1, r2, r3, r4


def test_verified_export_has_only_clinician_confirmed_findings(corpus):
    rows = jsonl(ExportSpec(fmt="jsonl", labels=("verified",)))
    assert [(r["label"], r["external_id"], r["key"], r["status"]) for r in rows] == [
        ("verified", "r1", "nodule", "present")
    ]
    row = rows[0]
    assert row["paired"] == ["right upper lobe", "right lung"] and row["paired_type"] == "Location"
    assert row["entity_type"] == "Lesion" and row["method"] == "review:edited"
    assert CHEST_TEXT[row["start"] : row["end"]] == "Small nodule in the RUL"
    assert row["decided_by"] == "dr-who" and row["decided_at"] == "2023-05-06T07:08:00+00:00"


def test_unverified_predictions_are_labelled_and_skip_verified_reports(corpus):
    rows = jsonl(ExportSpec(fmt="jsonl", labels=("unverified",)))
    got = [(r["external_id"], r["key"], r["status"], r["method"], r["paired"]) for r in rows]
    assert got == [
        ("r2", "nodule", "present", "stage2:llm_hint", ["right upper lobe"]),
        ("r2", "pleural effusion", "negated", "stage2:llm_hint", []),
        ("r3", "nodule", "present", "stage1", []),
    ]
    assert {r["label"] for r in rows} == {"unverified"}
    assert rows[2]["score"] == pytest.approx(0.91)


def test_gold_export_pairs_mentions_with_their_locations(corpus):
    rows = jsonl(ExportSpec(fmt="jsonl", labels=("gold",)))
    got = [(r["external_id"], r["key"], r["status"], r["paired"], r["evidence"]) for r in rows]
    assert got == [
        ("r4", "nodule", "present", ["right upper lobe"], "nodule"),
        ("r4", "pleural effusion", "negated", [], "pleural effusion"),
    ]
    assert rows[0]["method"] == "gold:imported"


def test_jsonl_and_csv_carry_the_same_rows(corpus):
    spec = {"labels": ("verified", "unverified", "gold")}
    as_json = jsonl(ExportSpec(fmt="jsonl", **spec))
    as_csv = csv_rows(ExportSpec(fmt="csv", **spec))
    assert len(as_json) == len(as_csv) == 6
    assert list(as_csv[0]) == FLAT_COLUMNS
    for j, c in zip(as_json, as_csv, strict=True):
        expected = {k: "" if v is None else str(v) for k, v in j.items()}
        expected["paired"] = PAIRED_SEPARATOR.join(j["paired"])
        assert c == expected


def test_note_nlp_rows_follow_omop_and_point_at_the_notes(corpus):
    rows = csv_rows(ExportSpec(fmt="note_nlp", labels=("verified", "unverified")))
    assert list(rows[0]) == NOTE_NLP_COLUMNS
    assert [int(r["note_nlp_id"]) for r in rows] == [1, 2, 3, 4]
    verified, nodule, effusion, _stage1 = rows
    assert verified["note_id"] == "r1" and verified["term_exists"] == "Y"
    assert verified["lexical_variant"] == "Small nodule in the RUL" and verified["offset"] == str(
        CHEST_TEXT.index("Small")
    )
    assert verified["nlp_system"].startswith("RadReview verified") and verified["nlp_date"] == "2023-05-06"
    assert "verification=verified" in verified["term_modifiers"]
    assert "location=right upper lobe|right lung" in verified["term_modifiers"]
    assert nodule["nlp_system"].startswith("RadReview unverified (stage2:llm_hint")
    assert effusion["term_exists"] == "N" and "status=negated" in effusion["term_modifiers"]
    assert all(r["note_nlp_concept_id"] == "0" and r["section_concept_id"] == "0" for r in rows)
    assert all(len(r["snippet"]) <= 250 and len(r["lexical_variant"]) <= 250 for r in rows)


def test_note_ids_can_be_radreview_report_ids(corpus):
    r1, *_ = corpus
    rows = csv_rows(ExportSpec(fmt="note_nlp", labels=("verified",), note_id_from="report"))
    assert [r["note_id"] for r in rows] == [str(r1.pk)]


def test_filters_select_reports(corpus):
    ReportFactory(
        extract=True,
        external_id="b1",
        text="Metastasis, progression.",
        modality=modality("brain_mri"),
        patient_id="p9",
    )
    only_p2 = jsonl(ExportSpec(labels=("unverified",), filters=ExportFilters(patient_id="p2")))
    assert {r["external_id"] for r in only_p2} == {"r2"}
    brain = jsonl(ExportSpec(labels=("unverified", "gold"), filters=ExportFilters(modality="brain_mri")))
    assert brain == []


def test_small_batches_give_the_same_export(corpus):
    labels = ("verified", "unverified", "gold")
    assert text_of(ExportSpec(fmt="csv", labels=labels, batch_size=1)) == text_of(
        ExportSpec(fmt="csv", labels=labels, batch_size=500)
    )


def test_bad_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown format"):
        ExportSpec(fmt="xml")
    with pytest.raises(ValueError, match="labels must be"):
        ExportSpec(labels=("approved",))


def test_gold_pairs_without_mentions_are_one_record_without_a_span():
    rep = ReportFactory(
        extract=True, external_id="b1", text="Metastasis, progression.", modality=modality("brain_mri")
    )
    assignment = Assignment.objects.create(
        report=rep,
        annotator=UserFactory(username="loader"),
        kind=Assignment.Kind.IMPORTED,
        status=Assignment.Status.SUBMITTED,
    )
    Relation.objects.create(
        report=rep,
        assignment=assignment,
        source_key=entity_key("metastasis", "brain_mri"),
        target_key=entity_key("progression", "brain_mri"),
    )
    rows = jsonl(ExportSpec(labels=("gold",)))
    assert [(r["key"], r["paired"], r["paired_type"], r["start"]) for r in rows] == [
        ("metastasis", ["progression"], "Episode", None)
    ]

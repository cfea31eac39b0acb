"""gold_load: gold files become IMPORTED assignments with mentions and relations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotations.models import Assignment, Mention, Modality, Relation
from annotations.services.gold import gold_load
from demo.generator.corpus import generate_reports
from tests.annotations.factories import ReportFactory
from tests.radreview.factories import UserFactory

SOURCE = "demo"


@pytest.fixture
def records() -> list[dict]:
    return list(generate_reports(n=12, seed=3))


@pytest.fixture
def imported(db, records):
    """The reports of `records`, imported (gold_load needs them in the database first)."""
    modalities = {m.code: m for m in Modality.objects.all()}
    return {
        rec["id"]: ReportFactory(
            source=SOURCE,
            external_id=rec["id"],
            patient_id=rec["patient_id"],
            modality=modalities[rec["modality"]],
            text=rec["text"],
        )
        for rec in records
    }


@pytest.fixture
def gold_user(db):
    return UserFactory(username="gold")


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_gold_load_creates_one_submitted_assignment_per_report_with_its_mentions_and_pairs(
    tmp_path, records, imported, gold_user
):
    result = gold_load(path=_write(tmp_path / "gold.jsonl", records), source=SOURCE, annotator=gold_user)

    n_mentions = sum(len(r["mentions"]) for r in records)
    n_relations = sum(len(p["targets"]) for r in records for p in r["pairs"])
    n_empty = sum(r["meta"]["no_findings"] for r in records)
    assert (result.reports, result.replaced, result.mentions, result.relations, result.no_findings) == (
        12,
        0,
        n_mentions,
        n_relations,
        n_empty,
    )
    assignments = Assignment.objects.filter(annotator=gold_user)
    assert assignments.count() == 12
    assert set(assignments.values_list("kind", "status").distinct()) == {
        (Assignment.Kind.IMPORTED, Assignment.Status.SUBMITTED)
    }
    assert assignments.filter(no_findings=True).count() == n_empty
    assert Mention.objects.count() == n_mentions
    assert Relation.objects.count() == n_relations
    for rec in records:
        report = imported[rec["id"]]
        stored = list(
            Mention.objects.filter(report=report)
            .order_by("start", "end", "key__name")
            .values_list("key__name", "start", "end", "negated", "uncertain")
        )
        expected = sorted(
            (m["key"], m["start"], m["end"], m["negated"], m["uncertain"]) for m in rec["mentions"]
        )
        assert sorted(stored, key=lambda m: (m[1], m[2], m[0])) == sorted(
            expected, key=lambda m: (m[1], m[2], m[0])
        )


def test_relations_point_at_the_finding_and_location_mentions_named_by_the_pairs(
    tmp_path, records, imported, gold_user
):
    gold_load(path=_write(tmp_path / "gold.jsonl", records), source=SOURCE, annotator=gold_user)

    for rec in records:
        mentions = rec["mentions"]
        expected = {
            (mentions[p["source"]]["start"], mentions[t]["start"], mentions[t]["key"])
            for p in rec["pairs"]
            for t in p["targets"]
        }
        stored = set(
            Relation.objects.filter(report=imported[rec["id"]]).values_list(
                "source_mention__start", "target_mention__start", "target_key__name"
            )
        )
        assert stored == expected
    relation = Relation.objects.select_related("source_mention", "target_mention").first()
    assert relation is not None
    assert relation.source_key_id == relation.source_mention.key_id
    assert relation.target_key_id == relation.target_mention.key_id


def test_loading_again_replaces_the_annotators_imported_assignment_without_duplicates(
    tmp_path, records, imported, gold_user
):
    path = _write(tmp_path / "gold.jsonl", records)
    first = gold_load(path=path, source=SOURCE, annotator=gold_user)
    other = UserFactory(username="other-gold")
    gold_load(path=_write(tmp_path / "one.jsonl", records[:1]), source=SOURCE, annotator=other)

    again = gold_load(path=path, source=SOURCE, annotator=gold_user)

    assert again.replaced == 12
    assert (again.reports, again.mentions, again.relations) == (
        first.reports,
        first.mentions,
        first.relations,
    )
    assert Assignment.objects.filter(annotator=gold_user).count() == 12
    assert Mention.objects.filter(assignment__annotator=gold_user).count() == first.mentions
    assert Relation.objects.filter(assignment__annotator=gold_user).count() == first.relations
    assert Assignment.objects.filter(annotator=other).count() == 1  # another annotator's gold is kept


def test_a_line_without_mentions_gets_key_level_relations_from_its_gold_summary(db, tmp_path, gold_user):
    report = ReportFactory(source=SOURCE, external_id="r1", text="Nodules in the RUL and LLL. No effusion.")
    line = {
        "id": "r1",
        "modality": "chest_ct",
        "gold": {
            "lesions": {
                "nodule": {"status": "present", "locations": ["right upper lobe", "left lower lobe"]},
                "pleural effusion": {"status": "negated", "locations": []},
            }
        },
    }
    result = gold_load(path=_write(tmp_path / "g.jsonl", [line]), source=SOURCE, annotator=gold_user)

    assert (result.mentions, result.relations, result.no_findings) == (0, 2, 0)
    pairs = set(
        Relation.objects.filter(report=report).values_list(
            "source_key__name", "target_key__name", "source_mention", "target_mention"
        )
    )
    assert pairs == {("nodule", "right upper lobe", None, None), ("nodule", "left lower lobe", None, None)}


def test_a_report_whose_gold_has_only_negated_keys_is_marked_no_findings(db, tmp_path, gold_user):
    ReportFactory(source=SOURCE, external_id="r1", text="No pleural effusion.")
    line = {
        "id": "r1",
        "text": "No pleural effusion.",
        "gold": {"lesions": {"pleural effusion": {"status": "negated", "locations": []}}},
        "mentions": [
            {"key": "pleural effusion", "start": 3, "end": 19, "text": "pleural effusion", "negated": True}
        ],
        "pairs": [],
    }
    gold_load(path=_write(tmp_path / "g.jsonl", [line]), source=SOURCE, annotator=gold_user)

    assignment = Assignment.objects.get(annotator=gold_user)
    assert assignment.no_findings is True
    assert list(assignment.mentions.values_list("negated", flat=True)) == [True]


def _broken(records: list[dict], how: str) -> list[dict]:
    bad = json.loads(json.dumps(records))  # a deep copy
    rec = next(r for r in bad[1:] if r["modality"] == "chest_ct" and r["pairs"])
    mention = rec["mentions"][0]
    if how == "unknown key":
        mention["key"] = "tumour of the soul"
    elif how == "offsets":
        mention["start"], mention["end"] = len(rec["text"]) - 2, len(rec["text"]) + 5
    elif how == "mention text":
        mention["text"] = mention["text"] + "x"
    elif how == "report text":
        rec["text"] = rec["text"] + " Addendum."
    elif how == "missing report":
        rec["id"] = "ct-999999"
    elif how == "bad pair":
        pair = rec["pairs"][0]
        pair["targets"] = [pair["source"]]  # a lesion paired with a lesion
    return bad


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("unknown key", "unknown key 'tumour of the soul'"),
        ("offsets", "outside the report text"),
        ("mention text", "is not the recorded mention text"),
        ("report text", "text differs from the imported report"),
        ("missing report", "no imported report with id 'ct-999999'"),
        ("bad pair", "cannot be paired with"),
    ],
)
def test_a_bad_line_raises_a_value_error_naming_it_and_nothing_changes(
    tmp_path, records, imported, gold_user, how, message
):
    good = gold_load(path=_write(tmp_path / "good.jsonl", records), source=SOURCE, annotator=gold_user)
    before = sorted(Assignment.objects.values_list("pk", flat=True))
    bad = _broken(records, how)
    line = next(i for i, (a, b) in enumerate(zip(records, bad, strict=True), start=1) if a != b)

    with pytest.raises(ValueError, match=message) as excinfo:
        gold_load(path=_write(tmp_path / "bad.jsonl", bad), source=SOURCE, annotator=gold_user)

    assert str(excinfo.value).startswith(f"line {line}:")
    assert sorted(Assignment.objects.values_list("pk", flat=True)) == before
    assert Mention.objects.count() == good.mentions
    assert Relation.objects.count() == good.relations


def test_errors_in_a_later_batch_roll_back_the_earlier_batches(
    tmp_path, records, imported, gold_user, monkeypatch
):
    monkeypatch.setattr("annotations.services.gold.BATCH_LINES", 4)
    bad = [*records, {**records[0], "id": "ct-999999"}]  # line 13: the fourth batch

    with pytest.raises(ValueError, match=r"^line 13: no imported report"):
        gold_load(path=_write(tmp_path / "bad.jsonl", bad), source=SOURCE, annotator=gold_user)

    assert Assignment.objects.count() == 0
    assert Mention.objects.count() == 0


def test_malformed_json_and_repeated_ids_are_reported_by_line(tmp_path, records, imported, gold_user):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(records[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^line 2: malformed JSON"):
        gold_load(path=path, source=SOURCE, annotator=gold_user)

    with pytest.raises(ValueError, match=r"^line 2: id .* already appears on line 1"):
        gold_load(path=_write(path, [records[0], records[0]]), source=SOURCE, annotator=gold_user)
    assert Assignment.objects.count() == 0


def test_one_batch_takes_a_fixed_number_of_queries(
    tmp_path, records, imported, gold_user, django_assert_max_num_queries
):
    path = _write(tmp_path / "gold.jsonl", records)
    with django_assert_max_num_queries(10):
        gold_load(path=path, source=SOURCE, annotator=gold_user)

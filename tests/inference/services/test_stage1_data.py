"""Stage 1 training data: label sources and their priority, the fixed held-out set
and its disjointness from training, the frozen snapshot."""

from __future__ import annotations

import pytest

from annotations.models import WeakLabel, WeakLabelSet
from inference import hooks
from inference.services import stage1_data
from inference.services.stage1_data import (
    Stage1DataError,
    gold_key_sets,
    heldout_report_ids,
    is_heldout,
    snapshot_read,
    snapshot_write,
    stage1_keys,
    training_data_build,
)
from tests.annotations.factories import entity_key
from tests.inference.factories import corpus_gold, corpus_report, gold_corpus, unlabelled_corpus


def test_held_out_membership_is_a_stable_fraction_of_report_identities():
    flags = [is_heldout("site-a", f"r{i}") for i in range(4000)]
    assert 0.13 < sum(flags) / len(flags) < 0.17
    assert flags == [is_heldout("site-a", f"r{i}") for i in range(4000)]  # deterministic
    assert [is_heldout("site-b", f"r{i}") for i in range(50)] != flags[:50]  # the source counts


def test_stage1_keys_are_the_finding_keys_in_schema_order(chest_ct, brain_mri):
    keys = stage1_keys(chest_ct)
    assert keys[:3] == ["nodule", "mass", "consolidation"] and len(keys) == 11
    assert "right upper lobe" not in keys
    assert stage1_keys("brain_mri") == [
        "glioma",
        "lymphoma",
        "metastasis",
        "non-malignant tumor",
        "other non-tumor",
    ]


def test_gold_counts_present_and_uncertain_but_not_negated(chest_ct):
    report = corpus_report(
        external_id="x", text="There is a small nodule. No pleural effusion. Possible patchy consolidation."
    )
    corpus_gold(report, {"nodule": "present", "pleural effusion": "negated", "consolidation": "uncertain"})
    assert gold_key_sets([report.pk]) == {report.pk: {"nodule", "consolidation"}}


def test_held_out_gold_reports_never_reach_training(chest_ct):
    reports = gold_corpus(80)
    heldout = heldout_report_ids(chest_ct)
    assert heldout and set(heldout) < {r.pk for r in reports}
    assert heldout == sorted(r.pk for r in reports if is_heldout(r.source, r.external_id))
    data = training_data_build(chest_ct, label_sources="gold")
    assert not set(heldout) & set(data.report_ids)
    assert len(data.report_ids) == 80 - len(heldout)
    assert data.counts["heldout_excluded"] == len(heldout)


def test_held_out_bucket_reports_are_excluded_from_weak_labels_and_pretraining_too(chest_ct):
    gold_corpus(10)
    plain = unlabelled_corpus(60)
    _weak_labels(plain, mode="keyword", keys={"nodule"})
    data = training_data_build(chest_ct, label_sources="gold_weak", weak_mode="keyword", pretrain=True)
    bucket = {r.pk for r in plain if is_heldout(r.source, r.external_id)}
    assert bucket  # the corpus is big enough to put some reports in the bucket
    assert not bucket & set(data.report_ids)
    assert not bucket & set(data.pretrain_report_ids)
    assert data.counts["weak"] == 60 - len(bucket)


def test_gold_wins_over_approved_which_wins_over_weak(chest_ct, monkeypatch):
    corpus = unlabelled_corpus(40)
    gold_report, approved_report, weak_report = [
        r for r in corpus if not is_heldout(r.source, r.external_id)
    ][:3]
    corpus_gold(gold_report, {})  # gold says: nothing
    _weak_labels(corpus, mode="keyword_negation", keys={"nodule"})
    who = {"verified_by": "clin", "verified_at": "2026-11-28T10:00:00+00:00"}
    fake = hooks.ApprovedLabelSource(  # what the review app registers, with made-up labels
        key_labels=lambda *, modality: {
            gold_report.pk: {"mass"},
            approved_report.pk: {"mass", "not-a-stage1-key"},
        },
        provenance=lambda *, modality: {gold_report.pk: who, approved_report.pk: who},
    )
    monkeypatch.setattr(hooks, "_approved", [fake])
    data = training_data_build(chest_ct, label_sources="gold_weak_approved", weak_mode="keyword_negation")
    by_id = dict(zip(data.report_ids, zip(data.sources, data.key_sets, strict=True), strict=True))
    assert by_id[gold_report.pk] == ("gold", [])
    assert by_id[approved_report.pk] == ("approved", ["mass"])
    assert by_id[weak_report.pk] == ("weak", ["nodule"])
    assert data.label_sources == ["gold", "approved", "weak:keyword_negation"]
    assert data.approved_provenance == {str(approved_report.pk): who}  # only examples labelled by approval


def test_approved_labels_missing_is_a_clear_error(chest_ct, monkeypatch):
    gold_corpus(10)
    monkeypatch.setattr(hooks, "_approved", [])  # no app registered an approved-label source
    with pytest.raises(Stage1DataError, match="clinician-approved findings are not available"):
        training_data_build(chest_ct, label_sources="gold_weak_approved")


def test_weak_labels_count_positive_and_uncertain_of_the_newest_schema_version(chest_ct):
    [report] = [r for r in unlabelled_corpus(10) if not is_heldout(r.source, r.external_id)][:1]
    label_set = WeakLabelSet.objects.create(report=report, mode="keyword_negation", schema_version=1)
    WeakLabel.objects.create(label_set=label_set, key=entity_key("nodule"), status="positive")
    WeakLabel.objects.create(label_set=label_set, key=entity_key("mass"), status="uncertain")
    WeakLabel.objects.create(label_set=label_set, key=entity_key("pleural effusion"), status="negated")
    newer = WeakLabelSet.objects.create(report=report, mode="keyword_negation", schema_version=2)
    WeakLabel.objects.create(label_set=newer, key=entity_key("nodule"), status="positive")
    WeakLabel.objects.create(label_set=newer, key=entity_key("mass"), status="uncertain")
    WeakLabel.objects.create(label_set=newer, key=entity_key("pleural effusion"), status="negated")
    labels, version = stage1_data.weak_key_sets(chest_ct, "keyword_negation")
    assert version == 2 and labels == {report.pk: {"nodule", "mass"}}


def test_nothing_to_learn_from_is_a_clear_error(chest_ct):
    with pytest.raises(Stage1DataError, match="no gold chest_ct reports outside the held-out set"):
        training_data_build(chest_ct, label_sources="gold")
    with pytest.raises(Stage1DataError, match="unknown label sources"):
        training_data_build(chest_ct, label_sources="everything")


def test_snapshot_round_trips_and_refuses_a_changed_file(chest_ct, tmp_path):
    gold_corpus(20)
    data = training_data_build(chest_ct, label_sources="gold")
    path = tmp_path / "snap.json"
    sha = snapshot_write(path, data)
    back = snapshot_read(path, sha256=sha)
    assert (back.report_ids, back.sources, back.key_sets) == (data.report_ids, data.sources, data.key_sets)
    path.write_bytes(path.read_bytes().replace(b'"gold"', b'"weak"', 1))
    with pytest.raises(Stage1DataError, match="does not match its recorded SHA-256"):
        snapshot_read(path, sha256=sha)


def _weak_labels(reports, *, mode: str, keys: set[str]) -> None:
    for report in reports:
        label_set = WeakLabelSet.objects.create(report=report, mode=mode, schema_version=1)
        for name in keys:
            WeakLabel.objects.create(label_set=label_set, key=entity_key(name), status="positive")

import pytest

from inference.ml.relation_metrics import brain_pairs, chest_pairs, relation_metrics, score_finding


def test_one_finding_scores():
    s = score_finding(
        "nodule", {"right upper lobe", "left lower lobe"}, {"right upper lobe", "lingula", "pleura"}
    )
    assert not s.exact
    assert s.precision == pytest.approx(1 / 3)
    assert s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))  # 0.4


def test_empty_sets():
    both_empty = score_finding("mass", set(), set())
    assert (both_empty.exact, both_empty.precision, both_empty.recall, both_empty.f1) == (
        True,
        None,
        None,
        1.0,
    )
    missed = score_finding("mass", {"right lung"}, set())
    assert (missed.exact, missed.precision, missed.recall, missed.f1) == (False, None, 0.0, 0.0)
    invented = score_finding("mass", set(), {"right lung"})
    assert (invented.exact, invented.precision, invented.recall, invented.f1) == (False, 0.0, None, 0.0)


def test_hand_computed_macro_and_micro():
    gold = [
        {"nodule": {"right upper lobe"}, "consolidation": {"right lower lobe", "left lower lobe"}},
        {"nodule": {"left upper lobe"}},
    ]
    pred = [
        {"nodule": {"right upper lobe"}, "consolidation": {"right lower lobe"}, "mass": {"pleura"}},
        {},  # nodule missed entirely
    ]
    report = relation_metrics(gold, pred)
    nodule, consolidation = report.per_key["nodule"], report.per_key["consolidation"]
    # nodule: report 1 exact (P=R=F1=1); report 2 missed (P undefined, R=0, F1=0)
    assert (nodule.n, nodule.accuracy, nodule.precision, nodule.recall, nodule.f1) == (2, 0.5, 1.0, 0.5, 0.5)
    # consolidation: P=1, R=1/2, F1=2/3, not exact
    assert consolidation.accuracy == 0.0
    assert consolidation.precision == 1.0 and consolidation.recall == 0.5
    assert consolidation.f1 == pytest.approx(2 / 3)
    assert "mass" not in report.per_key  # not a gold finding: entity metrics count it, not these
    assert report.macro.accuracy == pytest.approx(0.25)
    assert report.macro.precision == pytest.approx(1.0)
    assert report.macro.recall == pytest.approx(0.5)
    assert report.macro.f1 == pytest.approx((0.5 + 2 / 3) / 2)
    assert report.micro.n == 3
    assert report.micro.accuracy == pytest.approx(1 / 3)
    assert report.micro.f1 == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_keys_restrict_and_order_the_table():
    gold = [{"b": {"x"}, "a": {"y"}, "c": {"z"}}]
    report = relation_metrics(gold, [{}], keys=["c", "a"])
    assert list(report.per_key) == ["c", "a"]


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 gold reports but 1"):
        relation_metrics([{}, {}], [{}])


def test_chest_adapter_skips_negated_and_implicit_location_lesions():
    gold = {
        "lesions": {
            "nodule": {"status": "present", "locations": ["right upper lobe"]},
            "mass": {"status": "uncertain", "locations": []},
            "consolidation": {"status": "negated", "locations": []},
            "pleural effusion": {"status": "present", "locations": ["pleura"]},
        }
    }
    assert chest_pairs(gold) == {"nodule": {"right upper lobe"}, "mass": set()}


def test_brain_adapter_reads_episode_or_rule_episodes():
    gold = {
        "diagnoses": {
            "metastasis": {"status": "present", "episode": "progression"},
            "glioma": {"status": "negated", "episode": None},
            "non-malignant tumor": {"status": "present"},
            "lymphoma": {"status": "present", "episode": None},
        }
    }
    assert brain_pairs(gold) == {"metastasis": {"progression"}, "lymphoma": set()}
    rules = {
        "diagnoses": {
            "metastasis": {"status": "present", "episode": "stable", "episodes": ["stable", "progression"]}
        }
    }
    assert brain_pairs(rules) == {"metastasis": {"stable", "progression"}}


def test_brain_end_to_end_example():
    gold = [{"diagnoses": {"metastasis": {"status": "present", "episode": "progression"}}}]
    pred = [{"diagnoses": {"metastasis": {"status": "present", "episode": "stable"}}}]
    report = relation_metrics([brain_pairs(g) for g in gold], [brain_pairs(p) for p in pred])
    assert report.macro.accuracy == 0.0 and report.macro.f1 == 0.0
    assert report.macro.precision == 0.0 and report.macro.recall == 0.0

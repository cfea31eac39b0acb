"""Entity-key metrics as the method defines them, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from inference.ml.metrics import entity_key_metrics, key_sets, report_scores

GOLD = [{"nodule"}, {"nodule", "mass"}, set(), set(), {"effusion"}]
PRED = [{"nodule"}, {"nodule"}, set(), {"mass"}, set()]
KEYS = ["effusion", "mass", "nodule"]


def test_report_level_follows_the_method() -> None:
    report = entity_key_metrics(GOLD, PRED, KEYS).report
    # Correct: reports 1 and 3 only.
    assert report.accuracy == pytest.approx(2 / 5)
    # Precision over reports 1, 2, 4 (something predicted): 1, 1, 0.
    assert report.precision == pytest.approx(2 / 3)
    assert report.n_with_prediction == 3
    # Recall over reports 1, 2, 5 (some gold key): 1, 1/2, 0.
    assert report.recall == pytest.approx(1 / 2)
    assert report.n_with_gold == 3
    # F1 is the harmonic mean of the two means: 2 * (2/3) * (1/2) / (2/3 + 1/2).
    assert report.f1 == pytest.approx(4 / 7)
    # Specificity over reports 3 and 4 (no gold key): only report 3 predicts nothing.
    assert report.specificity == pytest.approx(1 / 2)
    assert report.n_without_gold == 2


def test_per_key_tables() -> None:
    per_key = entity_key_metrics(GOLD, PRED, KEYS).per_key
    nodule, mass, effusion = per_key["nodule"], per_key["mass"], per_key["effusion"]
    assert (nodule.tp, nodule.fp, nodule.fn, nodule.tn) == (2, 0, 0, 3)
    assert (nodule.precision, nodule.recall, nodule.f1, nodule.specificity) == (1.0, 1.0, 1.0, 1.0)
    assert (mass.tp, mass.fp, mass.fn, mass.tn) == (0, 1, 1, 3)
    assert (mass.precision, mass.recall, mass.f1) == (0.0, 0.0, 0.0)
    assert mass.specificity == pytest.approx(3 / 4)
    assert (effusion.tp, effusion.fp, effusion.fn, effusion.tn) == (0, 0, 1, 4)
    assert effusion.precision is None  # never predicted: undefined, not 0
    assert (effusion.recall, effusion.f1, effusion.specificity) == (0.0, 0.0, 1.0)


def test_micro_and_macro_averages() -> None:
    m = entity_key_metrics(GOLD, PRED, KEYS)
    # Summed counts: TP 2, FP 1, FN 2, TN 10.
    assert m.micro.precision == pytest.approx(2 / 3)
    assert m.micro.recall == pytest.approx(1 / 2)
    assert m.micro.f1 == pytest.approx(4 / 7)
    assert m.micro.specificity == pytest.approx(10 / 11)
    # Macro: means over keys where defined (effusion has no precision).
    assert m.macro.precision == pytest.approx(1 / 2)
    assert m.macro.recall == pytest.approx(1 / 3)
    assert m.macro.f1 == pytest.approx(1 / 3)
    assert m.macro.specificity == pytest.approx((1 + 3 / 4 + 1) / 3)


def test_undefined_rates_are_none_not_zero() -> None:
    report = entity_key_metrics([{"nodule"}, set()], [set(), set()], ["nodule"]).report
    assert report.precision is None and report.f1 is None
    assert report.recall == 0.0 and report.specificity == 1.0 and report.accuracy == 0.5
    m = entity_key_metrics([set()], [set()], ["nodule"])
    assert m.per_key["nodule"].f1 is None and m.macro.f1 is None and m.report.recall is None


def test_keys_restrict_both_sides() -> None:
    m = entity_key_metrics([{"nodule", "location:RUL"}], [{"nodule"}], ["nodule"])
    assert m.report.accuracy == 1.0 and list(m.per_key) == ["nodule"]


def test_report_scores_for_mcnemar_and_bootstrap() -> None:
    scores = report_scores(GOLD, PRED)
    assert [s.correct for s in scores] == [True, False, True, False, False]
    assert scores[1].f1 == pytest.approx(2 / 3)  # 2*1 / (1 + 2)
    assert scores[2].f1 is None  # nothing on either side
    assert scores[3].f1 == 0.0 and scores[3].recall is None and scores[3].precision == 0.0


def test_key_sets_and_serialization() -> None:
    matrix = np.array([[1, 0, 1], [0, 0, 0]])
    assert key_sets(matrix, KEYS) == [{"effusion", "nodule"}, set()]
    with pytest.raises(ValueError, match="does not match"):
        key_sets(matrix, KEYS[:2])
    data = entity_key_metrics(GOLD, PRED, KEYS).to_dict()
    assert data["per_key"]["mass"]["support"] == 1 and set(data) == {"report", "per_key", "micro", "macro"}
    with pytest.raises(ValueError, match="gold sets"):
        entity_key_metrics(GOLD, PRED[:2])

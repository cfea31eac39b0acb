"""The method's statistics against values worked out by hand."""

import math

import pytest

from analytics import stats


def test_mcnemar_uses_the_exact_binomial_test_below_25_discordant_reports():
    # A right / B wrong on 10 reports, the reverse on 2: 12 discordant pairs.
    # p = 2 * P(X <= 2), X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096 = 158 / 4096.
    a = [True] * 10 + [False] * 2 + [True] * 5 + [False] * 3
    b = [False] * 10 + [True] * 2 + [True] * 5 + [False] * 3
    result = stats.mcnemar(a, b)
    assert (result.b, result.c, result.n) == (10, 2, 20)
    assert result.method == "exact"
    assert result.statistic == 2
    assert result.p_value == pytest.approx(158 / 4096, abs=1e-12)


def test_mcnemar_uses_chi_square_with_continuity_correction_from_25_discordant_reports():
    # b = 30, c = 12: chi2 = (|30 - 12| - 1)^2 / 42 = 289 / 42 = 6.8810;
    # with one degree of freedom p = erfc(sqrt(chi2 / 2)) = 0.00871.
    result = stats.mcnemar_from_counts(b=30, c=12)
    assert result.method == "chi2_cc"
    assert result.statistic == pytest.approx(289 / 42)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(289 / 42 / 2)), rel=1e-9)
    assert result.p_value == pytest.approx(0.00871, abs=5e-5)


def test_mcnemar_switches_method_exactly_at_25():
    assert stats.mcnemar_from_counts(b=20, c=4).method == "exact"
    assert stats.mcnemar_from_counts(b=20, c=5).method == "chi2_cc"


def test_mcnemar_exact_p_is_capped_at_one_for_balanced_disagreement():
    # b = c = 3: 2 * P(X <= 3 | n = 6) = 2 * 42/64 > 1, so 1.
    assert stats.mcnemar_from_counts(b=3, c=3).p_value == 1.0


def test_mcnemar_without_disagreement_finds_no_difference():
    result = stats.mcnemar([True, False, True], [True, False, True])
    assert (result.method, result.p_value, result.statistic) == ("none", 1.0, 0.0)


def test_mcnemar_refuses_unpaired_inputs():
    with pytest.raises(ValueError, match="3 results for A but 2 for B"):
        stats.mcnemar([True, True, False], [True, False])


def test_bootstrap_of_constant_differences_has_a_zero_width_interval():
    result = stats.bootstrap_diff_ci([1.0, 0.5, 0.75], [0.8, 0.3, 0.55])
    assert result.mean_diff == pytest.approx(0.2)
    assert result.ci_low == pytest.approx(0.2)
    assert result.ci_high == pytest.approx(0.2)
    assert (result.resamples, result.n, result.confidence) == (1000, 3, 0.95)


def test_bootstrap_of_two_reports_spans_their_extremes():
    # Differences (1, 0): resampled means are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4,
    # so the 2.5th percentile is 0 and the 97.5th is 1 (with 1,000 resamples, surely).
    result = stats.bootstrap_diff_ci([1.0, 0.0], [0.0, 0.0], seed=7)
    assert result.mean_diff == 0.5
    assert (result.ci_low, result.ci_high) == (0.0, 1.0)


def test_bootstrap_is_reproducible_with_its_seed_and_changes_with_another():
    a = [1.0, 0.0, 0.5, 1.0, 0.66, 0.0, 1.0, 0.8, 0.4, 1.0]
    b = [0.5, 0.0, 0.5, 1.0, 1.00, 0.5, 0.0, 0.8, 0.4, 0.2]
    first = stats.bootstrap_diff_ci(a, b, seed=123)
    again = stats.bootstrap_diff_ci(a, b, seed=123)
    other = stats.bootstrap_diff_ci(a, b, seed=124)
    assert first == again
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.mean_diff == pytest.approx(0.146)
    assert first.ci_low < first.mean_diff < first.ci_high
    assert stats.bootstrap_diff_ci(a, b).seed == stats.DEFAULT_SEED


def test_bootstrap_rejects_unpaired_or_empty_input():
    with pytest.raises(ValueError, match="equal-length"):
        stats.bootstrap_diff_ci([1.0, 0.5], [1.0])
    with pytest.raises(ValueError, match="no reports"):
        stats.bootstrap_diff_ci([], [])


def test_reports_with_nothing_on_either_side_count_as_f1_one():
    assert stats.report_f1_values([None, 0.5, 0.0]) == [1.0, 0.5, 0.0]


def test_negation_chi_square_reproduces_the_method_values():
    # The method's Discussion: BERT right on 1 of 186 negated and 159 of 174 other
    # reports, chi2 ~ 300.46; the pipeline 136/186 vs 130/174, chi2 ~ 0.12, p = 0.73.
    bert = stats.negation_chi2(negated_correct=1, negated_total=186, other_correct=159, other_total=174)
    pipeline = stats.negation_chi2(negated_correct=136, negated_total=186, other_correct=130, other_total=174)
    assert bert.statistic == pytest.approx(300.46, abs=0.01)
    assert bert.p_value < 0.001
    assert pipeline.statistic == pytest.approx(0.12, abs=0.005)
    assert pipeline.p_value == pytest.approx(0.73, abs=0.005)
    assert bert.table == [[1, 185], [159, 15]]


def test_negation_chi_square_is_undefined_without_both_groups():
    assert stats.negation_chi2(negated_correct=0, negated_total=0, other_correct=3, other_total=5) is None
    assert stats.negation_chi2(negated_correct=4, negated_total=4, other_correct=5, other_total=5) is None

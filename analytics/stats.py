"""The method's comparison statistics ("Evaluation and statistical tests"), plain Python + scipy.

    mcnemar(correct_a, correct_b)          # paired report-level correctness of two methods
    bootstrap_diff_ci(f1_a, f1_b, seed=0)  # paired bootstrap 95% CI of per-report F1 differences
    negation_chi2(...)                     # negated vs non-negated report accuracy (2x2 chi-square)

McNemar's test looks only at the discordant pairs: b = reports method A got right
and B got wrong, c = the reverse. With few discordant pairs (b + c < 25) the
chi-square approximation is poor, so the exact two-sided binomial test on
min(b, c) ~ Binomial(b + c, 1/2) is used; otherwise the chi-square statistic with
Edwards' continuity correction (|b - c| - 1)^2 / (b + c) on one degree of freedom.

The bootstrap resamples report indices with replacement (the same indices for both
methods: that is what makes it paired), 1,000 times by default, from a seeded
numpy Generator so a stored result can be reproduced exactly, and takes the
2.5th and 97.5th percentiles of the resampled mean differences.

No Django here: the evaluation job and the model comparison page call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

EXACT_BELOW = 25  # discordant pairs below this: exact binomial test
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 20240501  # fixed so every stored CI can be recomputed bit for bit


@dataclass(frozen=True, slots=True)
class McNemarResult:
    b: int  # A right, B wrong
    c: int  # A wrong, B right
    n: int  # paired reports
    method: str  # "exact" | "chi2_cc" | "none" (no discordant pairs)
    statistic: float  # min(b, c) for the exact test, the corrected chi-square otherwise
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    mean_diff: float  # observed mean of a - b over all reports
    ci_low: float
    ci_high: float
    n: int
    resamples: int
    seed: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True, slots=True)
class Chi2Result:
    statistic: float
    p_value: float
    table: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> McNemarResult:
    """McNemar's test on two methods' correctness over the same reports (same order)."""
    if len(correct_a) != len(correct_b):
        raise ValueError(f"{len(correct_a)} results for A but {len(correct_b)} for B")
    b = sum(1 for x, y in zip(correct_a, correct_b, strict=True) if x and not y)
    c = sum(1 for x, y in zip(correct_a, correct_b, strict=True) if y and not x)
    return mcnemar_from_counts(b=b, c=c, n=len(correct_a))


def mcnemar_from_counts(*, b: int, c: int, n: int | None = None) -> McNemarResult:
    discordant = b + c
    total = discordant if n is None else n
    if discordant == 0:
        # The methods never disagree: no evidence of a difference.
        return McNemarResult(b=b, c=c, n=total, method="none", statistic=0.0, p_value=1.0)
    if discordant < EXACT_BELOW:
        k = min(b, c)
        p = min(1.0, 2.0 * float(scipy_stats.binom.cdf(k, discordant, 0.5)))
        return McNemarResult(b=b, c=c, n=total, method="exact", statistic=float(k), p_value=p)
    statistic = (abs(b - c) - 1) ** 2 / discordant
    p = float(scipy_stats.chi2.sf(statistic, 1))
    return McNemarResult(b=b, c=c, n=total, method="chi2_cc", statistic=float(statistic), p_value=p)


def bootstrap_diff_ci(
    values_a: Sequence[float],
    values_b: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap CI of mean(a - b), resampling reports with replacement."""
    a = np.asarray(values_a, dtype=float)
    b = np.asarray(values_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two equal-length lists, got {a.shape} and {b.shape}")
    if len(a) == 0:
        raise ValueError("no reports to resample")
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError("resamples must be >= 1 and confidence in (0, 1)")
    diffs = a - b
    rng = np.random.default_rng(seed)
    # One (resamples, n) index matrix: 1,000 x a few thousand reports is a few MB.
    indices = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[indices].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return BootstrapResult(
        mean_diff=float(diffs.mean()),
        ci_low=float(low),
        ci_high=float(high),
        n=len(diffs),
        resamples=resamples,
        seed=seed,
        confidence=confidence,
    )


def report_f1_values(f1s: Sequence[float | None]) -> list[float]:
    """Per-report F1s ready for the bootstrap: a report where both gold and prediction
    are empty has no F1 (0/0); the method counts such a report as correct, so it
    contributes 1.0 rather than being dropped (dropping would unpair the methods)."""
    return [1.0 if f is None else float(f) for f in f1s]


def negation_chi2(
    *, negated_correct: int, negated_total: int, other_correct: int, other_total: int
) -> Chi2Result | None:
    """Pearson chi-square (no continuity correction, as the method's χ² ≈ 300.46 for
    BERT) on correct/incorrect x negated/non-negated reports. None when a row or
    column is empty (the test is undefined)."""
    table = [
        [negated_correct, negated_total - negated_correct],
        [other_correct, other_total - other_correct],
    ]
    if min(negated_total, other_total) <= 0 or any(sum(col) == 0 for col in zip(*table, strict=True)):
        return None
    statistic, p, _, _ = scipy_stats.chi2_contingency(table, correction=False)
    return Chi2Result(statistic=float(statistic), p_value=float(p), table=table)

"""Entity-key metrics exactly as the method defines them, over one key set per report.

    m = entity_key_metrics(gold=[{"nodule"}, set()], pred=[{"nodule", "mass"}, set()])
    m.report.accuracy, m.report.f1, m.per_key["nodule"].f1, m.macro.f1

Report level (the method's "Evaluation and statistical tests"), with G the gold and P
the predicted key set of one report:

- accuracy: fraction of all reports with P == G (every key right, absent keys included).
- precision: mean over reports with P non-empty of |P ∩ G| / |P|. Reports where the model
  predicted nothing are left out: "precision cannot be calculated if the model judges no
  lesion or diagnosis information in the report".
- recall: mean over reports with G non-empty of |P ∩ G| / |G|. Reports without gold keys
  are left out: "recall cannot be calculated if there is no human annotated label".
- f1: harmonic mean of those two means (not a mean of per-report F1s).
- specificity: over reports with G empty, the fraction with P empty too; the method's
  hallucination check.
Each is None when no report qualifies (e.g. precision when nothing was ever predicted).

Per key (a report is a positive for key k when k is in its set): TP/FP/FN/TN over all
reports; precision TP/(TP+FP), recall TP/(TP+FN), F1 2TP/(2TP+FP+FN), specificity
TN/(TN+FP), each None when its denominator is 0. Micro averages apply the same formulas
to counts summed over keys; macro averages are plain means over the keys where the
metric is defined (a key never predicted and never gold has no F1 and is skipped).

When `keys` is given, both sides are first restricted to those keys; otherwise the keys
are every key seen on either side. Plain Python, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class KeyCounts:
    """Confusion counts and rates of one key (or summed over keys, for micro averages)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def specificity(self) -> float | None:
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def support(self) -> int:
        return self.tp + self.fn

    def to_dict(self) -> dict[str, Any]:
        rates = {"precision": self.precision, "recall": self.recall, "f1": self.f1}
        return {**asdict(self), **rates, "specificity": self.specificity, "support": self.support}


@dataclass(frozen=True, slots=True)
class Averages:
    precision: float | None
    recall: float | None
    f1: float | None
    specificity: float | None


@dataclass(frozen=True, slots=True)
class ReportLevel:
    n_reports: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    specificity: float | None
    n_with_prediction: int
    n_with_gold: int
    n_without_gold: int


@dataclass(frozen=True, slots=True)
class EntityKeyMetrics:
    report: ReportLevel
    per_key: dict[str, KeyCounts]
    micro: Averages
    macro: Averages

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: report, per_key tables, micro, macro."""
        return {
            "report": asdict(self.report),
            "per_key": {key: counts.to_dict() for key, counts in self.per_key.items()},
            "micro": asdict(self.micro),
            "macro": asdict(self.macro),
        }


@dataclass(frozen=True, slots=True)
class ReportScore:
    """One report's outcome, for McNemar's test (correct) and paired bootstraps (f1).
    f1 = 2|P ∩ G| / (|P| + |G|): the harmonic mean of the report's precision and recall
    when both exist, 0 when exactly one side is empty, None when both are empty."""

    correct: bool
    precision: float | None
    recall: float | None
    f1: float | None


def report_scores(gold: Sequence[AbstractSet[str]], pred: Sequence[AbstractSet[str]]) -> list[ReportScore]:
    """Per-report correctness, precision, recall and F1 (see ReportScore)."""
    _check_lengths(gold, pred)
    scores = []
    for g, p in zip(gold, pred, strict=True):
        hit = len(g & p)
        scores.append(
            ReportScore(
                correct=g == p,
                precision=_ratio(hit, len(p)),
                recall=_ratio(hit, len(g)),
                f1=_ratio(2 * hit, len(g) + len(p)),
            )
        )
    return scores


def entity_key_metrics(
    gold: Sequence[AbstractSet[str]], pred: Sequence[AbstractSet[str]], keys: Sequence[str] | None = None
) -> EntityKeyMetrics:
    """Report-level, per-key, micro and macro metrics; see the module docstring."""
    _check_lengths(gold, pred)
    if keys is None:
        keys = sorted(set().union(*gold, *pred))
    wanted = frozenset(keys)
    gold_sets = [wanted.intersection(g) for g in gold]
    pred_sets = [wanted.intersection(p) for p in pred]
    per_key = {key: _key_counts(key, gold_sets, pred_sets) for key in keys}
    return EntityKeyMetrics(
        report=_report_level(gold_sets, pred_sets),
        per_key=per_key,
        micro=_micro(per_key.values()),
        macro=_macro(per_key.values()),
    )


def key_sets(matrix: np.ndarray, keys: Sequence[str]) -> list[set[str]]:
    """One set of keys per row of a 0/1 (or boolean) matrix of shape (n, len(keys))."""
    rows = np.asarray(matrix).astype(bool)
    if rows.ndim != 2 or rows.shape[1] != len(keys):
        raise ValueError(f"matrix of shape {rows.shape} does not match {len(keys)} keys")
    return [{keys[int(j)] for j in np.flatnonzero(row)} for row in rows]


def _report_level(gold: Sequence[frozenset[str]], pred: Sequence[frozenset[str]]) -> ReportLevel:
    scores = report_scores(gold, pred)
    precisions = [s.precision for s in scores if s.precision is not None]
    recalls = [s.recall for s in scores if s.recall is not None]
    no_gold = [not p for g, p in zip(gold, pred, strict=True) if not g]
    precision, recall = _mean(precisions), _mean(recalls)
    return ReportLevel(
        n_reports=len(scores),
        accuracy=_mean([float(s.correct) for s in scores]),
        precision=precision,
        recall=recall,
        f1=_harmonic(precision, recall),
        specificity=_mean([float(ok) for ok in no_gold]),
        n_with_prediction=len(precisions),
        n_with_gold=len(recalls),
        n_without_gold=len(no_gold),
    )


def _key_counts(key: str, gold: Sequence[frozenset[str]], pred: Sequence[frozenset[str]]) -> KeyCounts:
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        in_g, in_p = key in g, key in p
        tp += in_g and in_p
        fp += in_p and not in_g
        fn += in_g and not in_p
    return KeyCounts(tp=tp, fp=fp, fn=fn, tn=len(gold) - tp - fp - fn)


def _micro(counts: Iterable[KeyCounts]) -> Averages:
    items = list(counts)
    total = KeyCounts(
        tp=sum(c.tp for c in items),
        fp=sum(c.fp for c in items),
        fn=sum(c.fn for c in items),
        tn=sum(c.tn for c in items),
    )
    return Averages(total.precision, total.recall, total.f1, total.specificity)


def _macro(counts: Iterable[KeyCounts]) -> Averages:
    items = list(counts)
    return Averages(
        precision=_mean([c.precision for c in items if c.precision is not None]),
        recall=_mean([c.recall for c in items if c.recall is not None]),
        f1=_mean([c.f1 for c in items if c.f1 is not None]),
        specificity=_mean([c.specificity for c in items if c.specificity is not None]),
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return fmean(values) if values else None


def _harmonic(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return 2 * a * b / (a + b) if a + b else 0.0


def _check_lengths(gold: Sequence[Any], pred: Sequence[Any]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sets but {len(pred)} predicted sets")

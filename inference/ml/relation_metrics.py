"""Relation-level metrics exactly as the method defines them.

"For relationship mapping performance, evaluation was conducted on each lesion
for chest CT reports (or diagnosis for brain MRI reports), as one lesion could be
associated with multiple locations. In the same way, we evaluated accuracy,
precision, recall, and F1-scores for each human annotated lesion and diagnosis."

So the unit is one gold finding of one report (a lesion with its location set, a
malignant diagnosis with its episode as a one-element set):

- accuracy: the predicted set equals the gold set exactly (a finding the model
  missed has the empty predicted set);
- precision = |pred & gold| / |pred|, recall = |pred & gold| / |gold|; following
  the method's report-level rule, precision is averaged only over findings with a
  non-empty prediction and recall only over findings with a non-empty gold set;
  F1 per finding is 2PR/(P+R), with 1.0 when both sets are empty (nothing to
  locate, nothing claimed) and 0.0 when exactly one is empty;
- per type (e.g. "nodule"): the mean over its gold findings; macro: the mean over
  types that have at least one gold finding. Overall (micro) means are given too.

Only gold findings with a status in `statuses` count (a negated lesion has no
location to get right); implicit-location lesions (pleural effusion/thickening)
are left out by the callers, as in the method. Plain Python.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

Pairs = Mapping[str, Collection[str]]  # finding key -> its targets (locations / episode)


@dataclass(frozen=True, slots=True)
class FindingScore:
    key: str
    exact: bool
    precision: float | None  # None: nothing predicted
    recall: float | None  # None: nothing in gold
    f1: float


@dataclass(frozen=True, slots=True)
class Scores:
    n: int
    accuracy: float
    precision: float | None
    recall: float | None
    f1: float


@dataclass(frozen=True, slots=True)
class RelationReport:
    per_key: dict[str, Scores]
    macro: Scores
    micro: Scores
    findings: list[FindingScore] = field(repr=False)


def score_finding(key: str, gold: Collection[str], pred: Collection[str]) -> FindingScore:
    gold_set, pred_set = set(gold), set(pred)
    hits = len(gold_set & pred_set)
    precision = hits / len(pred_set) if pred_set else None
    recall = hits / len(gold_set) if gold_set else None
    if not gold_set and not pred_set:
        f1 = 1.0
    elif precision and recall:
        f1 = 2 * precision * recall / (precision + recall)
    else:
        f1 = 0.0
    return FindingScore(key, gold_set == pred_set, precision, recall, f1)


def relation_metrics(
    gold: Sequence[Pairs], pred: Sequence[Pairs], *, keys: Iterable[str] | None = None
) -> RelationReport:
    """Score predicted pairs against gold pairs, report by report (same order).

    Each element maps a gold finding key to its target set; `keys` restricts the
    evaluation to those finding keys (and fixes the order of `per_key`)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold reports but {len(pred)} predictions")
    wanted = list(keys) if keys is not None else None
    scores = [
        score_finding(key, targets, p.get(key, ()))
        for g, p in zip(gold, pred, strict=True)
        for key, targets in g.items()
        if wanted is None or key in wanted
    ]
    order = wanted if wanted is not None else sorted({s.key for s in scores})
    per_key = {k: _mean([s for s in scores if s.key == k]) for k in order if any(s.key == k for s in scores)}
    macro = Scores(
        n=len(scores),
        accuracy=fmean(s.accuracy for s in per_key.values()) if per_key else 0.0,
        precision=_mean_defined(s.precision for s in per_key.values()),
        recall=_mean_defined(s.recall for s in per_key.values()),
        f1=fmean(s.f1 for s in per_key.values()) if per_key else 0.0,
    )
    return RelationReport(per_key, macro, _mean(scores), scores)


def _mean(scores: Sequence[FindingScore]) -> Scores:
    if not scores:
        return Scores(0, 0.0, None, None, 0.0)
    return Scores(
        n=len(scores),
        accuracy=fmean(1.0 if s.exact else 0.0 for s in scores),
        precision=_mean_defined(s.precision for s in scores),
        recall=_mean_defined(s.recall for s in scores),
        f1=fmean(s.f1 for s in scores),
    )


def _mean_defined(values: Iterable[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return fmean(defined) if defined else None


# --- adapters from gold-file records (docs/gold-files.md) ---------------------------------


def chest_pairs(
    gold: Mapping[str, Any],
    *,
    statuses: Collection[str] = ("present", "uncertain"),
    exclude: Collection[str] = ("pleural effusion", "pleural thickening"),
) -> dict[str, set[str]]:
    """lesion -> location set, for the lesions of a "gold" (or prediction) dict."""
    return {
        key: set(value.get("locations") or ())
        for key, value in gold.get("lesions", {}).items()
        if value.get("status", "present") in statuses and key not in exclude
    }


def brain_pairs(
    gold: Mapping[str, Any],
    *,
    malignant: Collection[str] = ("glioma", "lymphoma", "metastasis"),
    statuses: Collection[str] = ("present", "uncertain"),
) -> dict[str, set[str]]:
    """malignant diagnosis -> {episode} (empty when none), for a "gold" or prediction
    dict. A prediction may carry "episodes" (the rule baseline) instead of one "episode"."""
    out = {}
    for key, value in gold.get("diagnoses", {}).items():
        if key in malignant and value.get("status", "present") in statuses:
            episodes = value.get("episodes")
            if episodes is None:
                episodes = [value["episode"]] if value.get("episode") else []
            out[key] = set(episodes)
    return out

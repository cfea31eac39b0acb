"""What an evaluation run stores, and the comparisons computed once from it. No
database reads: results in, JSON-ready dicts out.

`inference.services.evaluation.evaluate_modes` returns one entry per method; this
module reads it in the shape below (`normalize_results` accepts the few spellings
the producer may use) and adds the method's statistics (`compare_modes`), so the
dashboard only ever reads stored numbers. A method's label and its place in
tables come from the evaluation registry (`mode_labels`), the one list of modes.

Stored shape (`EvaluationRun.results`):

    {
      "modality": "brain_mri",
      "report_ids": [12, 15, ...],            # order of every per-report vector below
      "negated": [true, false, ...],          # report has a negated gold key (optional)
      "modes": {
        "bert": {
          "label": "BERT",
          "entity": {"report": {...}, "per_key": {key: {tp, fp, fn, tn, precision,
                     recall, f1, specificity, support}}, "micro": {...}, "macro": {...}},
          "entity_non_tumor": {...same shape...} | null,   # brain MRI: the 4 detail keys
          "relation": {"per_key": {key: {n, accuracy, precision, recall, f1}},
                       "macro": {...}, "micro": {...}} | null,
          "failed": 0, "errors": [],              # reports the method produced nothing for
          "correct": [true, false, ...],      # report-level correctness
          "f1": [1.0, 0.5, null, ...],        # per-report F1 (null: nothing on either side)
          "seconds_per_report": 0.02,
          "questions": {type: {asked, answered, changed, right, wrong, helps}}  # combined only
        },
        "llm": {...}, "llm_hint": {...}, "rules": {...}
      }
    }

Stored comparisons (`EvaluationRun.comparisons`):

    {"pairs": [{"a", "b", "mcnemar": {...}, "bootstrap": {...}}],
     "negation": {mode: {"negated": {"n", "correct", "accuracy"}, "non_negated": {...},
                         "chi2": {...} | null}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

from analytics import stats
from inference.services.evaluation import mode_labels


class ResultsError(ValueError):
    """The evaluation produced something the dashboard cannot store."""


def mode_label(mode: str, entry: Mapping[str, Any] | None = None) -> str:
    """The label a stored entry carries, else the registry's, else the name (a mode
    no longer registered still shows in old runs)."""
    if entry and entry.get("label"):
        return str(entry["label"])
    return mode_labels().get(mode, mode)


def ordered_modes(modes: Mapping[str, Any]) -> list[str]:
    """The names of `modes` in registry order, unknown ones last (sorted)."""
    known = [m for m in mode_labels() if m in modes]
    return known + sorted(m for m in modes if m not in known)


def normalize_results(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Bring a producer's result into the stored shape; raise ResultsError if a
    per-report vector does not line up with report_ids."""
    if "modes" not in raw or not isinstance(raw["modes"], Mapping):
        raise ResultsError("evaluation result has no 'modes'")
    report_ids = list(raw.get("report_ids") or [])
    out: dict[str, Any] = {
        "modality": raw.get("modality", ""),
        "report_ids": report_ids,
        "negated": list(raw.get("negated") or raw.get("report_negated") or []),
        "modes": {},
    }
    for extra in ("gold_set", "n_reports", "entity_keys", "relation_keys"):
        if extra in raw:
            out[extra] = raw[extra]
    for mode in ordered_modes(raw["modes"]):
        entry = raw["modes"][mode]
        per_report = entry.get("per_report") or {}
        correct = entry.get("correct", per_report.get("correct"))
        f1 = entry.get("f1", per_report.get("f1"))
        if correct is not None and report_ids and len(correct) != len(report_ids):
            raise ResultsError(f"{mode}: {len(correct)} correctness values for {len(report_ids)} reports")
        if f1 is not None and correct is not None and len(f1) != len(correct):
            raise ResultsError(f"{mode}: {len(f1)} F1 values for {len(correct)} reports")
        out["modes"][mode] = {
            "label": mode_label(mode, entry),
            "entity": entry.get("entity") or entry.get("entity_metrics"),
            "entity_non_tumor": entry.get("entity_non_tumor"),
            "relation": entry.get("relation") or entry.get("relations") or entry.get("relation_metrics"),
            "failed": entry.get("failed", 0),
            "errors": list(entry.get("errors") or [])[:5],
            "correct": [bool(c) for c in correct] if correct is not None else None,
            "f1": list(f1) if f1 is not None else None,
            "seconds_per_report": entry.get("seconds_per_report"),
        }
        if entry.get("questions"):
            out["modes"][mode]["questions"] = dict(entry["questions"])
    if out["negated"] and report_ids and len(out["negated"]) != len(report_ids):
        raise ResultsError("negated flags do not line up with report_ids")
    return out


def compare_modes(
    results: Mapping[str, Any], *, resamples: int = stats.DEFAULT_RESAMPLES, seed: int = stats.DEFAULT_SEED
) -> dict[str, Any]:
    """McNemar and the paired bootstrap for every pair of methods with per-report
    vectors, and each method's negated vs non-negated accuracy."""
    modes = results["modes"]
    paired = [m for m in modes if modes[m].get("correct")]
    pairs = []
    for a, b in combinations(paired, 2):
        ca, cb = modes[a]["correct"], modes[b]["correct"]
        if len(ca) != len(cb):
            continue
        pair: dict[str, Any] = {"a": a, "b": b, "mcnemar": stats.mcnemar(ca, cb).to_dict(), "bootstrap": None}
        fa, fb = modes[a].get("f1"), modes[b].get("f1")
        if fa and fb and len(fa) == len(fb):
            boot = stats.bootstrap_diff_ci(
                stats.report_f1_values(fa), stats.report_f1_values(fb), resamples=resamples, seed=seed
            )
            pair["bootstrap"] = boot.to_dict()
        pairs.append(pair)
    return {"pairs": pairs, "negation": _negation(results)}


def _negation(results: Mapping[str, Any]) -> dict[str, Any]:
    flags = results.get("negated") or []
    out: dict[str, Any] = {}
    if not flags:
        return out
    for mode, entry in results["modes"].items():
        correct = entry.get("correct")
        if not correct or len(correct) != len(flags):
            continue
        neg = [c for c, f in zip(correct, flags, strict=True) if f]
        other = [c for c, f in zip(correct, flags, strict=True) if not f]
        chi2 = stats.negation_chi2(
            negated_correct=sum(neg), negated_total=len(neg), other_correct=sum(other), other_total=len(other)
        )
        out[mode] = {
            "negated": _group(neg),
            "non_negated": _group(other),
            "chi2": chi2.to_dict() if chi2 else None,
        }
    return out


def _group(correct: list[bool]) -> dict[str, Any]:
    return {
        "n": len(correct),
        "correct": sum(correct),
        "accuracy": sum(correct) / len(correct) if correct else None,
    }

"""Test data for analytics: an evaluation result in the stored shape (see
analytics.evaluation), built from small explicit gold and predicted key sets."""

from __future__ import annotations

from typing import Any

from inference.ml.metrics import entity_key_metrics, report_scores
from inference.ml.relation_metrics import relation_metrics

NON_TUMOR = ["demyelinating", "hemorrhage/vascular lesion", "infection/inflammation", "stroke/infarction"]
BRAIN_KEYS = ["glioma", "lymphoma", "metastasis", *NON_TUMOR]

# Six reports: gold key sets, and what each method predicted.
GOLD = [{"glioma"}, {"metastasis"}, set(), {"demyelinating"}, {"stroke/infarction"}, {"lymphoma"}]
PREDICTIONS = {
    "bert": [
        {"glioma"},
        {"metastasis", "glioma"},
        {"stroke/infarction"},
        {"demyelinating"},
        {"stroke/infarction"},
        {"lymphoma"},
    ],
    "llm": [{"glioma"}, {"metastasis"}, set(), set(), {"stroke/infarction"}, set()],
    "llm_hint": [{"glioma"}, {"metastasis"}, set(), {"demyelinating"}, {"stroke/infarction"}, {"lymphoma"}],
}
GOLD_EPISODES = [
    {"glioma": {"progression"}},
    {"metastasis": {"stable"}},
    {},
    {},
    {},
    {"lymphoma": {"improvement"}},
]
PRED_EPISODES = {
    "llm": [{"glioma": {"progression"}}, {"metastasis": {"progression"}}, {}, {}, {}, {}],
    "llm_hint": [
        {"glioma": {"progression"}},
        {"metastasis": {"stable"}},
        {},
        {},
        {},
        {"lymphoma": {"stable"}},
    ],
}
NEGATED = [False, True, True, False, False, True]


def fake_results(report_ids: list[int] | None = None, modes: list[str] | None = None) -> dict[str, Any]:
    """What evaluate_modes returns for the six reports above."""
    ids = report_ids or list(range(1, len(GOLD) + 1))
    out: dict[str, Any] = {"report_ids": ids, "negated": NEGATED, "modes": {}}
    for mode in modes or list(PREDICTIONS):
        pred = PREDICTIONS[mode]
        scores = report_scores(GOLD, pred)
        entry: dict[str, Any] = {
            "entity": entity_key_metrics(GOLD, pred, BRAIN_KEYS).to_dict(),
            "correct": [s.correct for s in scores],
            "f1": [s.f1 for s in scores],
            "seconds_per_report": 0.5,
            "relation": None,
        }
        if mode in PRED_EPISODES:
            rel = relation_metrics(
                GOLD_EPISODES, PRED_EPISODES[mode], keys=["glioma", "lymphoma", "metastasis"]
            )
            entry["relation"] = {
                "per_key": {k: vars_(s) for k, s in rel.per_key.items()},
                "macro": vars_(rel.macro),
                "micro": vars_(rel.micro),
            }
        out["modes"][mode] = entry
    return out


def vars_(scores: Any) -> dict[str, Any]:
    return {name: getattr(scores, name) for name in ("n", "accuracy", "precision", "recall", "f1")}

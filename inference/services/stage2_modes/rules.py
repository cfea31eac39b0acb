"""The "rules" mode: the method's same-sentence baseline (a lesion and a location
named in one sentence are paired; no negation handling). A baseline to compare the
other modes with, never the pipeline's answer for a report: its predictions are
stored and evaluated, but never stand (inference.selectors).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from annotations.models import Modality, Report
from annotations.selectors import site_ruleset
from inference.ml.baseline import brain_mri_baseline, chest_ct_baseline
from inference.ml.llm.schemas import ChestKeys
from inference.ml.text.lexicon import lexicon_values
from inference.ml.text.location_keys import LocationTree
from inference.ml.text.matcher import Matcher
from inference.models import Stage2Prediction
from inference.services.stage2_modes.schema import ModalitySchema, modality_schema
from inference.services.stage2_modes.strategy import (
    BackendFor,
    Stage2Mode,
    Stage2Plan,
    StoredFields,
)

# Bumped when the rule baseline's behaviour changes (part of the rules run key).
# 3: locations through the one normalisation (text.location_keys)
RULES_VERSION = "same-sentence-3"  # 2: the text engine's matcher and segmentation


@dataclass(slots=True)
class RulesPlan(Stage2Plan):
    matcher: Matcher | None = None
    tree: LocationTree | None = None  # the site rules' location normalisation, read once per run


class RulesMode(Stage2Mode[RulesPlan]):
    name = "rules"
    label = "Rule-based (same sentence)"
    no_prompt_note = "No prompt stored (rule-based mode)."
    description = "Rule-based baseline: same-sentence pairs (the text engine's sentences)"
    pipeline = False

    def plan(self, modality: Modality, *, backend_for: BackendFor) -> RulesPlan:
        schema = modality_schema(modality)
        base = f"{self.name}|{modality.code}|schema{schema.version}"
        run = RulesPlan(self.name, modality, schema, run_key=f"{base}|{RULES_VERSION}")
        run.matcher = Matcher(lexicon_values(schema.lexicon))
        run.tree = site_ruleset(modality=modality).location_tree
        run.prompt_version = RULES_VERSION
        return run

    def predict(
        self, report: Report, plan: RulesPlan, *, hint: list[str] | None, limit: float
    ) -> StoredFields:
        return _rules_fields(report.text, plan)


def _rules_fields(text: str, run: RulesPlan) -> dict[str, Any]:
    started = time.perf_counter()
    assert run.matcher is not None
    predicted = rules_predict(text, run.schema, run.matcher, tree=run.tree)
    first: dict[str, tuple[int, int]] = {}
    for match in run.matcher.find(text):
        for key in match.keys:
            first.setdefault(str(key), (match.start, match.end))
    findings = []
    for key, value in predicted.get("lesions", predicted.get("diagnoses", {})).items():
        span = first.get(key)
        findings.append(
            {
                "key": key,
                "status": value["status"],
                "kind": "lesion" if "lesions" in predicted else "diagnosis",
                "locations": value.get("locations", []),
                "episode": value.get("episode"),
                "evidence": text[span[0] : span[1]] if span else "",
                "evidence_span": list(span) if span else None,
                "flags": [],
            }
        )
    seconds = time.perf_counter() - started
    return {
        "status": Stage2Prediction.Status.OK,
        "parsed": predicted,
        "findings": findings,
        "seconds": seconds,
        "timings": {"total": round(seconds, 4)},
        "messages": [],
        "raw_output": "",
        "error": "",
        "hint": None,
        "attempts": 1,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


def rules_predict(
    text: str, schema: ModalitySchema, matcher: Matcher, *, tree: LocationTree | None = None
) -> dict[str, Any]:
    """The same-sentence baseline in gold-file shape (docs/gold-files.md)."""
    keys = schema.keys
    if isinstance(keys, ChestKeys):
        return chest_ct_baseline(
            text,
            matcher,
            lesions=keys.lesions,
            locations=keys.locations,
            implicit=keys.implicit,
            tree=tree,
        )
    return brain_mri_baseline(
        text,
        matcher,
        diagnoses=keys.diagnoses,
        malignant=keys.malignant,
        other_non_tumor=keys.other_non_tumor,
        non_tumor=keys.non_tumor,
        episodes=keys.episodes,
    )

"""The combined mode's brain MRI path: the rule engine's diagnoses, details and
episodes as stage 2 findings (same shape as the LLM modes' brain findings).

    BrainCombinedExtractor(RuleEngine.for_brain_mri(lexicon)).extract(text)   # CombinedResult

No LLM call: a malignant diagnosis without a linked episode cue keeps episode None
and the flag `no_episode` for the reviewer (asking the LLM only for those was not
measured to help). Plain Python, no Django.
"""

from __future__ import annotations

import time
from typing import Any

from inference.ml.combined import MODE, SOURCE_RULES, CombinedFinding, CombinedResult, _rules_verdict
from inference.ml.engine.engine import RuleEngine
from inference.ml.llm.schemas import BrainKeys
from inference.ml.text.assertion import POSITIVE

PROMPT_VERSION_BRAIN = "combined-brain-v1"


class BrainCombinedExtractor:
    def __init__(self, engine: RuleEngine, *, keys: BrainKeys | None = None) -> None:
        self.engine = engine
        self.keys = keys or engine.brain or BrainKeys()
        self.llm: Any = None

    def extract(self, text: str, *, stage1: Any | None = None) -> CombinedResult:
        started = time.perf_counter()
        rules = self.engine.extract(text)
        details = set(self.keys.non_tumor)
        findings = []
        for f in rules.findings:
            kind = "non_tumor" if f.key in details else "diagnosis"
            finding = CombinedFinding(
                f.key,
                f.stage2_status,
                kind,
                episode=f.episode if f.key in self.keys.malignant else None,
                evidence=f.evidence,
                evidence_span=f.evidence_span,
                episode_evidence=f.episode_evidence,
                episode_evidence_span=f.episode_evidence_span,
                flags=list(f.flags),
                source=SOURCE_RULES,
                sources={SOURCE_RULES: _rules_verdict(f) | {"episode": f.episode}},
            )
            findings.append(finding)
        other = next((f for f in findings if f.key == self.keys.other_non_tumor), None)
        affirmed = [f for f in rules.findings if f.key in details and f.present]
        if other is None and affirmed:
            status = "present" if any(f.status == POSITIVE for f in affirmed) else "uncertain"
            findings.append(CombinedFinding(self.keys.other_non_tumor, status, "diagnosis"))
        if other is not None:
            other.details = [f.key for f in affirmed]
        return CombinedResult(
            task="brain_mri",
            mode=MODE,
            prompt_version=PROMPT_VERSION_BRAIN,
            rules_version=rules.rules_version,
            findings=findings,
            seconds=time.perf_counter() - started,
            brain_gold=rules.as_gold(),
        )

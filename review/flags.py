"""What a finding's flags mean to the person approving it.

Every flag the review screen shows on a finding is a reason to look twice, so
approving (or editing into "verified") a pending finding that carries any flag
takes a second, explicit step that names them (`approval_warnings`). A finding
whose evidence has no span in the report (the quote is not in the text, or
stage 1 alone named the key) cannot become verified at all until the clinician
selects the text that shows it (`needs_evidence`). The review page, the HTML
views, the API and the services all read these two functions, so the screen
and the server never disagree about which findings are guarded.
"""

from __future__ import annotations

from typing import Any

from inference.ml.llm.mapping import FLAG_UNMATCHED

# Set by review sync (services.sync) next to inference's flags: the quote is not in
# the report, or the report negates it.
FLAG_HALLUCINATION = "possible_hallucination"

HALLUCINATION_FLAGS = {FLAG_HALLUCINATION, FLAG_UNMATCHED, "evidence_negated"}
FLAG_LABELS = {
    FLAG_HALLUCINATION: "possible hallucination",
    FLAG_UNMATCHED: "evidence not found in the report",
    "evidence_negated": "the report negates the quote",
    "stage1_only": "stage 1 only (stage 2 did not confirm)",
    "stage2_only": "stage 2 only (stage 1 below threshold)",
    "near_threshold": "stage 1 near its threshold",
    "llm_failed": "LLM output failed",
    "evidence_not_negated": "LLM says negated; text does not",
    "key_not_in_evidence": "quote does not name the key",
    "hint_leak_suspect": "may copy the stage 1 hint",
    "not_in_hint": "not in the stage 1 hint",
    # The combined extractor (inference.ml.combined) and its rule engine.
    "rules_stage1_disagree": "Rules and stage 1 disagree",
    "lexicon_silent": "No keyword matched (stage 1 found it)",
    "no_location": "Rules linked no location",
    "unparsed": "Rules could not parse the report",
    "llm_disagrees": "LLM disagrees with the rules",
    "unconfirmed": "Stage 1 alone; the LLM did not confirm it",
    "llm_quote_not_found": "LLM's quote is not in the report (not applied)",
    "mixed_assertion": "Mentioned both present and absent",
    "weak_location": "Weak location link",
    "outside_mention": "Some mentions are outside the chest",
    "cross_sentence_location": "Location from another sentence",
    "historical": "Historical or resolved",
}


def flag_label(code: str) -> str:
    return FLAG_LABELS.get(code, code.replace("_", " "))


def approval_warnings(finding: Any) -> list[str]:
    """The labels of the flags a clinician must acknowledge before a pending
    finding becomes verified; empty when it is not flagged or already decided
    (a decided finding was acknowledged when it was first decided)."""
    if finding.status != "pending":
        return []
    return [flag_label(str(code)) for code in dict.fromkeys(finding.flags or [])]


def needs_evidence(finding: Any) -> bool:
    """True when the finding has no evidence span in the report text."""
    return finding.evidence_start is None or finding.evidence_end is None

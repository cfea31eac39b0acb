"""Reports ready for review: stage 1 and stage 2 predictions as the inference jobs
store them, for review sync to turn into findings."""

from __future__ import annotations

from typing import Any

from annotations.models import Report
from inference.models import Stage2Prediction
from review.models import ReviewFinding
from review.services import finding_decide
from tests.annotations.factories import ReportFactory
from tests.inference.factories import (
    ModelVersionFactory,
    Stage1PredictionFactory,
    Stage2PredictionFactory,
    finding,
)

CHEST_TEXT = (
    "Small nodule in the RUL. Consolidation in the left lower lobe. "
    "Mild bronchiectasis in both lungs. No pleural effusion."
)


def chest_report_with_predictions(
    *, text: str = CHEST_TEXT, external_id: str | None = None, patient_id: str = "P1", **report_kw: Any
) -> Report:
    """A chest CT report with stage 1 and stage 2 predictions: nodule (RUL),
    consolidation (LLL), bronchiectasis (both lungs) from stage 2; stage 1 also
    predicts atelectasis (disagreement). Returns the report."""
    kw: dict[str, Any] = {"text": text, "patient_id": patient_id, **report_kw}
    if external_id:
        kw["external_id"] = external_id
    report = ReportFactory.create(**kw)
    mv = ModelVersionFactory(thresholds={"nodule": 0.5, "consolidation": 0.4, "bronchiectasis": 0.5})
    Stage1PredictionFactory(
        report=report,
        model_version=mv,
        probabilities={"nodule": 0.93, "consolidation": 0.45, "bronchiectasis": 0.71, "atelectasis": 0.55},
        predicted_keys=["nodule", "consolidation", "bronchiectasis", "atelectasis"],
    )
    Stage2PredictionFactory(
        report=report,
        stage1_version=mv,
        findings=[
            finding(text, "nodule", "Small nodule in the RUL", locations=["right upper lobe"]),
            finding(
                text, "consolidation", "Consolidation in the left lower lobe", locations=["left lower lobe"]
            ),
            finding(text, "bronchiectasis", "Mild bronchiectasis in both lungs", locations=["both lungs"]),
            finding(text, "pleural effusion", "No pleural effusion", status="negated", locations=["pleura"]),
        ],
    )
    return report


COMBINED_TEXT = "Nodule in the RUL, larger than before. Consolidation is present. <b>Hazy</b> lungs."


def combined(
    text: str, key: str, quote: str, source: str, sources: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """A combined finding as the combined mode (inference.services.stage2_modes.combined) stores it."""
    return {**finding(text, key, quote, **kw), "source": source, "sources": sources}


def combined_report_with_sources() -> Report:
    """A chest CT report with a combined prediction: a nodule the LLM decided against the
    rules, a consolidation rules and LLM agree on, a GGO only stage 1 found."""
    report = ReportFactory.create(text=COMBINED_TEXT, external_id="combined-1")
    version = ModelVersionFactory(
        thresholds={"nodule": 0.5, "consolidation": 0.5, "ground-glass opacity": 0.5}
    )
    Stage1PredictionFactory(
        report=report,
        model_version=version,
        probabilities={"nodule": 0.88, "consolidation": 0.91, "ground-glass opacity": 0.97},
        predicted_keys=["nodule", "consolidation", "ground-glass opacity"],
    )
    Stage2PredictionFactory(
        report=report,
        mode=Stage2Prediction.Mode.COMBINED,
        run_key="combined|chest_ct|test",
        prompt_version="combined-chest-v1",
        stage1_version=version,
        messages=[],
        raw_output="",
        parsed={"lesions": {"nodule": {"status": "present", "locations": ["right upper lobe"]}}},
        findings=[
            combined(
                COMBINED_TEXT,
                "nodule",
                "Nodule in the RUL",
                "llm",
                {
                    "rules": {"status": "negated", "assertion": "historical", "locations": []},
                    "stage1": {"prob": 0.88, "present": True},
                    "llm": {"status": "present", "locations": ["right upper lobe"], "evidence": "Nodule"},
                },
                locations=["right upper lobe"],
                flags=["historical", "rules_stage1_disagree", "llm_disagrees"],
            ),
            combined(
                COMBINED_TEXT,
                "consolidation",
                "Consolidation is present",
                "rules+llm",
                {
                    "rules": {"status": "present", "assertion": "positive", "locations": []},
                    "stage1": {"prob": 0.91, "present": True},
                    "llm": {"status": "present", "locations": ["<script>x</script>"], "evidence": ""},
                },
                locations=["left lower lobe"],
                flags=["no_location"],
            ),
            combined(
                COMBINED_TEXT,
                "ground-glass opacity",
                "",
                "stage1",
                {"stage1": {"prob": 0.97, "present": True}, "llm": {"status": None}},
                flags=["lexicon_silent"],
            ),
        ],
    )
    return report


def approve(f: ReviewFinding, user: Any) -> ReviewFinding:
    """Approve as a clinician who took the second step wherever one is needed: the
    flags of a flagged finding confirmed, and for a finding without evidence in the
    report a selected span (the report's first five characters stand in for it)."""
    start, end = (0, 5) if f.evidence_start is None else (None, None)
    return finding_decide(
        finding_id=f.pk,
        user=user,
        action="approve",
        version=f.version,
        confirm=bool(f.flags),
        start=start,
        end=end,
    )

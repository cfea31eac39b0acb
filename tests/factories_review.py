"""Factories for review tests: model versions and stage 1 / stage 2 predictions
shaped like the inference jobs store them (findings as mapping.Finding dicts)."""

from __future__ import annotations

from typing import Any

import factory

from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from tests.factories import ReportFactory, modality


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    modality = factory.LazyFunction(lambda: modality("chest_ct"))
    name = factory.Sequence(lambda n: f"stage1-test-{n}")
    preset = "tiny"
    status = ModelVersion.Status.READY
    keys = factory.LazyFunction(list)
    thresholds = factory.LazyFunction(dict)


class Stage1PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage1Prediction

    report = factory.SubFactory(ReportFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    probabilities = factory.LazyFunction(dict)
    predicted_keys = factory.LazyFunction(list)


class Stage2PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage2Prediction

    report = factory.SubFactory(ReportFactory)
    mode = Stage2Prediction.Mode.LLM_HINT
    run_key = factory.Sequence(lambda n: f"llm_hint|fake|p1|run{n}")
    llm_name = "fake-llm"
    prompt_version = "p1"
    status = Stage2Prediction.Status.OK
    messages = factory.LazyFunction(
        lambda: [
            {"role": "system", "content": "Map lesions to locations. Example 1 … Example 2 …"},
            {"role": "user", "content": "Candidates: nodule\nReport: …"},
        ]
    )
    raw_output = '{"nodule": {"s": "present", "l": ["right upper lobe"], "e": "nodule"}}'
    parsed = factory.LazyFunction(
        lambda: {"nodule": {"s": "present", "l": ["right upper lobe"], "e": "nodule"}}
    )
    findings = factory.LazyFunction(list)


def finding(
    text: str,
    key: str,
    quote: str,
    *,
    status: str = "present",
    kind: str = "lesion",
    locations: list[str] | None = None,
    episode: str | None = None,
    details: list[str] | None = None,
    flags: list[str] | None = None,
) -> dict[str, Any]:
    """A stage 2 finding dict as mapping.Finding serialises it, its span located in `text`."""
    at = text.find(quote) if quote else -1
    return {
        "key": key,
        "status": status,
        "kind": kind,
        "locations": locations or [],
        "episode": episode,
        "details": details or [],
        "evidence": quote,
        "evidence_span": [at, at + len(quote)] if at >= 0 else None,
        "episode_evidence": "",
        "episode_evidence_span": None,
        "flags": flags or ([] if at >= 0 else ["evidence_unmatched"]),
    }


CHEST_TEXT = (
    "Small nodule in the RUL. Consolidation in the left lower lobe. "
    "Mild bronchiectasis in both lungs. No pleural effusion."
)


def chest_report_with_predictions(
    *, text: str = CHEST_TEXT, external_id: str | None = None, patient_id: str = "P1", **report_kw: Any
) -> Any:
    """A chest CT report with stage 1 and stage 2 predictions: nodule (RUL),
    consolidation (LLL), bronchiectasis (both lungs) from stage 2; stage 1 also
    predicts atelectasis (disagreement). Returns the report."""
    kw: dict[str, Any] = {"text": text, "patient_id": patient_id, **report_kw}
    if external_id:
        kw["external_id"] = external_id
    report = ReportFactory(**kw)
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

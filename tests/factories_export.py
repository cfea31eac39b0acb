"""Factories for the export and API tests: predictions, reviews, gold."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from annotations.models import Assignment, Mention, Relation, Report
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from tests.factories import UserFactory, entity_key, modality

CHEST_TEXT = "Small nodule in the RUL. No pleural effusion. 결절 있음."


def report(
    external_id: str, *, text: str = CHEST_TEXT, code: str = "chest_ct", patient: str = "p1", **extra: Any
) -> Report:
    return Report.objects.create(
        source=extra.pop("source", "test"),
        external_id=external_id,
        patient_id=patient,
        study_datetime=extra.pop("study_datetime", datetime(2021, 3, 4, 9, 30, tzinfo=UTC)),
        modality=modality(code),
        title=extra.pop("title", "CT chest"),
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        **extra,
    )


def model_version(code: str = "chest_ct", *, name: str = "ct-v1", active: bool = True) -> ModelVersion:
    return ModelVersion.objects.create(
        modality=modality(code), name=name, preset="tiny", status=ModelVersion.Status.READY, is_active=active
    )


def stage1(rep: Report, version: ModelVersion, keys: dict[str, float]) -> Stage1Prediction:
    return Stage1Prediction.objects.create(
        report=rep,
        model_version=version,
        probabilities=keys,
        predicted_keys=[k for k, p in keys.items() if p >= 0.5],
    )


def stage2(
    rep: Report, findings: list[dict[str, Any]], *, mode: str = "llm_hint", ok: bool = True
) -> Stage2Prediction:
    return Stage2Prediction.objects.create(
        report=rep,
        mode=mode,
        run_key=f"{mode}|qwen|p1|ct-v1|{len(findings)}",
        llm_name="qwen2.5-coder-1.5b",
        prompt_version="p1",
        status=Stage2Prediction.Status.OK if ok else Stage2Prediction.Status.FAILED,
        findings=findings,
    )


def span_of(text: str, quote: str) -> list[int]:
    start = text.index(quote)
    return [start, start + len(quote)]


def gold(rep: Report, *, annotator: Any = None) -> Assignment:
    """Imported gold: nodule (RUL) paired with right upper lobe; pleural effusion negated."""
    annotator = annotator or UserFactory(username="gold-loader")
    assignment = Assignment.objects.create(
        report=rep,
        annotator=annotator,
        kind=Assignment.Kind.IMPORTED,
        status=Assignment.Status.SUBMITTED,
        submitted_at=datetime(2022, 1, 2, tzinfo=UTC),
    )
    text = rep.text
    nodule_start, nodule_end = span_of(text, "nodule")
    rul_start, rul_end = span_of(text, "RUL")
    pe_start, pe_end = span_of(text, "pleural effusion")
    nodule = Mention.objects.create(
        report=rep, assignment=assignment, key=entity_key("nodule"), start=nodule_start, end=nodule_end
    )
    rul = Mention.objects.create(
        report=rep, assignment=assignment, key=entity_key("right upper lobe"), start=rul_start, end=rul_end
    )
    Mention.objects.create(
        report=rep,
        assignment=assignment,
        key=entity_key("pleural effusion"),
        start=pe_start,
        end=pe_end,
        negated=True,
    )
    Relation.objects.create(
        report=rep,
        assignment=assignment,
        source_key=nodule.key,
        target_key=rul.key,
        source_mention=nodule,
        target_mention=rul,
    )
    return assignment

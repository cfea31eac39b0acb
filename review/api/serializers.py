"""Output shapes and input validation of the review API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from radreview.bounds import OffsetField
from review.models import ReviewDecision, ReviewFinding, ReviewReport


def finding_data(f: ReviewFinding) -> dict[str, Any]:
    return {
        "id": f.pk,
        "kind": f.kind,
        "status": f.status,
        "key": f.key,
        "locations": f.locations,
        "episode": f.episode,
        "details": f.details,
        "evidence": f.evidence,
        "evidence_span": [f.evidence_start, f.evidence_end] if f.evidence_start is not None else None,
        "flags": f.flags,
        "stage1_probability": f.stage1_probability,
        "stage1_threshold": f.stage1_threshold,
        "ai": f.ai,
        "stage1_prediction": f.stage1_prediction_id,
        "stage2_prediction": f.stage2_prediction_id,
        "model_version": f.model_version_name,
        "prompt_version": f.prompt_version,
        "version": f.version,
        "reason_code": f.reason_code,
        "comment": f.comment,
        "decided_by": f.decided_by.get_username() if f.decided_by else None,
        "decided_at": f.decided_at,
    }


def review_row(r: ReviewReport) -> dict[str, Any]:
    return {
        "report": {
            "id": r.report_id,
            "external_id": r.report.external_id,
            "modality": r.report.modality.code,
            "patient_id": r.report.patient_id,
            "study_datetime": r.report.study_datetime,
        },
        "status": r.status,
        "priority": r.priority,
        "signals": r.signals,
        "pending": r.n_pending,
        "total": r.n_total,
        "model_version": r.model_version.name if r.model_version else None,
        "prompt_version": r.prompt_version,
        "verified_at": r.verified_at,
    }


def decision_data(d: ReviewDecision) -> dict[str, Any]:
    return {
        "id": d.pk,
        "finding": d.finding_id,
        "user": d.user.get_username(),
        "action": d.action,
        "before": d.before,
        "after": d.after,
        "reason_code": d.reason_code,
        "comment": d.comment,
        "finding_version": d.finding_version,
        "model_version": d.model_version_name,
        "prompt_version": d.prompt_version,
        "created_at": d.created_at,
    }


class DecisionIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=["approve", "reject", "edit"])
    version = OffsetField()
    reason_code = serializers.CharField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    key = serializers.CharField(required=False, max_length=100)
    locations = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    episode = serializers.CharField(required=False, allow_blank=True, max_length=50)
    details = serializers.ListField(child=serializers.CharField(max_length=100), required=False)


class AddIn(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    locations = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list
    )
    episode = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    details = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    start = OffsetField(required=False, allow_null=True, default=None)
    end = OffsetField(required=False, allow_null=True, default=None)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

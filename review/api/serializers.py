"""Output shapes and input validation of the review API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from radreview.bounds import IdField, OffsetField
from review.models import ReviewDecision, ReviewFinding, ReviewReport
from review.selectors import SORTS


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
    action = serializers.ChoiceField(choices=["approve", "reject", "edit", "undo"])
    version = OffsetField()
    confirm = serializers.BooleanField(
        required=False,
        default=False,
        help_text="the second step of approving or editing a flagged finding: its flags were checked",
    )
    start = OffsetField(
        required=False,
        allow_null=True,
        default=None,
        help_text="the evidence the clinician selected, [start, end) in code points; required to approve "
        "or edit a finding whose evidence is not in the report",
    )
    end = OffsetField(required=False, allow_null=True, default=None)
    reason_code = serializers.CharField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    key = serializers.CharField(required=False, max_length=100)
    locations = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    episode = serializers.CharField(required=False, allow_blank=True, max_length=50)
    details = serializers.ListField(child=serializers.CharField(max_length=100), required=False)


class BulkItemIn(serializers.Serializer):
    id = IdField()
    version = OffsetField()


class BulkIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=["approve", "reject"])
    findings = BulkItemIn(many=True, allow_empty=False)
    reason_code = serializers.CharField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class BulkOut(serializers.Serializer):
    done = serializers.ListField(child=serializers.CharField(), help_text="keys decided")
    skipped = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()), help_text="[key, why] not decided"
    )
    message = serializers.CharField()


class AddIn(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    locations = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list
    )
    episode = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    details = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    start = OffsetField(help_text="the evidence the clinician selected, [start, end) in code points")
    end = OffsetField()
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


# -- the answers' shapes, for the OpenAPI schema (the functions above build them) -----------


class ReviewReportRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    modality = serializers.CharField()
    patient_id = serializers.CharField(allow_blank=True)
    study_datetime = serializers.DateTimeField(allow_null=True)


class ReviewRowOut(serializers.Serializer):
    report = ReviewReportRefOut()
    status = serializers.CharField()
    priority = serializers.FloatField()
    signals = serializers.DictField()
    pending = serializers.IntegerField()
    total = serializers.IntegerField()
    model_version = serializers.CharField(allow_null=True)
    prompt_version = serializers.CharField(allow_blank=True)
    verified_at = serializers.DateTimeField(allow_null=True)


class FindingOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    key = serializers.CharField()
    locations = serializers.ListField(child=serializers.CharField())
    episode = serializers.CharField(allow_blank=True)
    details = serializers.ListField(child=serializers.CharField())
    evidence = serializers.CharField(allow_blank=True)
    evidence_span = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, help_text="[start, end)"
    )
    flags = serializers.ListField(child=serializers.CharField())
    stage1_probability = serializers.FloatField(allow_null=True)
    stage1_threshold = serializers.FloatField(allow_null=True)
    ai = serializers.JSONField(allow_null=True)
    stage1_prediction = serializers.IntegerField(allow_null=True)
    stage2_prediction = serializers.IntegerField(allow_null=True)
    model_version = serializers.CharField(allow_blank=True)
    prompt_version = serializers.CharField(allow_blank=True)
    version = serializers.IntegerField()
    reason_code = serializers.CharField(allow_blank=True)
    comment = serializers.CharField(allow_blank=True)
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)


class ReviewOut(ReviewRowOut):
    findings = FindingOut(many=True)


class QueueOut(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="reports per review status")
    results = ReviewRowOut(many=True)
    next_offset = serializers.IntegerField(allow_null=True)


class DecisionOut(serializers.Serializer):
    id = serializers.IntegerField()
    finding = serializers.IntegerField(allow_null=True)
    user = serializers.CharField()
    action = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    reason_code = serializers.CharField(allow_blank=True)
    comment = serializers.CharField(allow_blank=True)
    finding_version = serializers.IntegerField()
    model_version = serializers.CharField(allow_blank=True)
    prompt_version = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class ReviewConflictOut(serializers.Serializer):
    detail = serializers.CharField(help_text="another clinician changed the finding first")


class QueueIn(serializers.Serializer):
    """The queue's filters (documentation: the selectors parse and check them)."""

    status = serializers.ChoiceField(choices=["", "open", *ReviewReport.Status.values], required=False)
    modality = serializers.CharField(required=False, allow_blank=True)
    model_version = IdField(required=False, min_value=0)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    finding = serializers.CharField(required=False, allow_blank=True, max_length=100)
    sort = serializers.ChoiceField(choices=list(SORTS), required=False)
    offset = IdField(required=False, min_value=0)


class QueuePostIn(QueueIn):
    patient = serializers.CharField(required=False, max_length=100)

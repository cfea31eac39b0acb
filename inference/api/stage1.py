"""REST API of stage 1: model versions, training and inference runs, promotion and
roll-back, comparison, the held-out set, and one report's prediction. The same
services and permission checks as the screens (DRF answers 401/403, never a
redirect); bad input is a 400 with the reason, a missing model a 409/503 with one.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Modality, Report, WeakLabelSet
from inference.api import shapes
from inference.models import ModelPromotion, ModelVersion
from inference.selectors import model_version_active
from inference.services.stage1_data import (
    LABEL_SOURCE_CHOICES,
    WEAK_AUTO,
    Stage1DataError,
    Stage1RecipeRefused,
    heldout_report_ids,
    training_inputs_preview,
)
from inference.services.stage1_inference import (
    Cohort,
    Stage1ModelUnavailable,
    inference_job_create,
    predict_report,
)
from inference.services.stage1_registry import (
    PromotionError,
    PromotionNeedsConfirmation,
    model_promote,
    model_rollback,
    versions_compare,
)
from inference.services.stage1_training import (
    DEFAULT_MEMBERS,
    MAX_MEMBERS,
    PRESET_CHOICES,
    training_job_create,
)
from inference.tasks.stage1 import stage1_infer_task, stage1_train_task
from jobs.services import job_enqueue
from radreview.api_permissions import perm
from radreview.bounds import ID_MAX, INT_MAX, bounded_int
from radreview.roles import PERM_PROMOTE, PERM_REVIEW, PERM_RUN_JOBS

TAGS = ["stage1"]
PROMOTED = {200: shapes.PromotionOut, 409: OpenApiTypes.OBJECT}
ID = {"type": "integer", "minimum": 0, "maximum": ID_MAX}
MODALITY_PARAM = OpenApiParameter("modality", str, description="modality code, e.g. chest_ct")


def _bad_request(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


def _conflict(exc: Exception) -> Response:
    """A promotion the versions' current state refuses (already active, nothing to roll back to)."""
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


def version_summary(version: ModelVersion) -> dict[str, Any]:
    heldout = (version.metrics or {}).get("heldout") or {}
    return {
        "id": version.pk,
        "name": version.name,
        "modality": version.modality.code,
        "preset": version.preset,
        "status": version.status,
        "is_active": version.is_active,
        "label_sources": version.label_sources,
        "data_counts": version.data_counts,
        "code_version": version.code_version,
        "heldout_macro_f1": (heldout.get("macro") or {}).get("f1"),
        "heldout_report_f1": (heldout.get("report") or {}).get("f1"),
        "n_heldout": (version.metrics or {}).get("n_heldout"),
        "job": version.job_id,
        "created_at": version.created_at,
        "trained_at": version.trained_at,
    }


def version_detail(version: ModelVersion) -> dict[str, Any]:
    failed = version.status == ModelVersion.Status.FAILED
    error = version.job.error if failed and version.job is not None else ""
    return {
        **version_summary(version),
        "keys": version.keys,
        "thresholds": version.thresholds,
        "config": version.config,
        "metrics": version.metrics,
        "curves": version.curves,
        "data_snapshot_path": version.data_snapshot_path,
        "data_snapshot_sha256": version.data_snapshot_sha256,
        "artifact_path": version.artifact_path,
        "error": error,
    }


class ModelVersionListApi(APIView):
    """GET ?modality=code: model versions, newest first."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(parameters=[MODALITY_PARAM], responses={200: shapes.ModelVersionsOut}, tags=TAGS)
    def get(self, request: Request) -> Response:
        versions = ModelVersion.objects.select_related("modality")
        code = request.query_params.get("modality")
        if code:
            versions = versions.filter(modality__code=code)
        return Response({"results": [version_summary(v) for v in versions]})


class ModelVersionDetailApi(APIView):
    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(responses={200: shapes.ModelVersionDetailOut}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        version = get_object_or_404(ModelVersion.objects.select_related("modality", "job"), pk=pk)
        return Response(version_detail(version))


class TrainingRunApi(APIView):
    """POST: start a training run; 202 with the job and the new model version."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    class Input(serializers.Serializer):
        modality = serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all())
        preset = serializers.ChoiceField(choices=[c for c, _ in PRESET_CHOICES], default="cpu")
        label_sources = serializers.ChoiceField(choices=list(LABEL_SOURCE_CHOICES), default="gold_weak")
        weak_mode = serializers.ChoiceField(
            choices=[WEAK_AUTO, *WeakLabelSet.Mode.values],
            default=WEAK_AUTO,
            help_text="auto: the rule engine's weak labels when they exist, else keyword_negation",
        )
        init_checkpoint = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
        pretrain = serializers.BooleanField(default=False)
        morphemes = serializers.BooleanField(default=False)
        epochs = serializers.IntegerField(required=False, min_value=1, max_value=200)
        mlm_epochs = serializers.IntegerField(required=False, min_value=1, max_value=200)
        max_steps = serializers.IntegerField(required=False, min_value=0, max_value=INT_MAX, default=0)
        members = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=MAX_MEMBERS,
            default=DEFAULT_MEMBERS,
            help_text="windows recipe: cross-fitted members averaged (1: one model)",
        )

    @extend_schema(
        request=Input, responses={202: shapes.TrainingStartedOut, 409: OpenApiTypes.OBJECT}, tags=TAGS
    )
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job, version = training_job_create(**data.validated_data, user=request.user)
        except Stage1RecipeRefused as exc:  # well formed; the data refuses it now
            return _conflict(exc)
        except Stage1DataError as exc:
            return _bad_request(exc)
        job_enqueue(job=job, task=stage1_train_task)
        body = {
            "job": job.pk,
            "model_version": version.pk,
            "name": version.name,
            "weak_mode": job.params["weak_mode"],
            "counts": job.params["requested_counts"],
        }
        return Response(body, status=202)


class TrainingPreviewApi(APIView):
    """GET ?modality=&label_sources=&weak_mode=: how many gold, weak and approved reports
    the recipe would train on, and why it would be refused ("problem", null when it may run)."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    class Query(serializers.Serializer):
        modality = serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all())
        label_sources = serializers.ChoiceField(choices=list(LABEL_SOURCE_CHOICES), default="gold_weak")
        weak_mode = serializers.ChoiceField(choices=[WEAK_AUTO, *WeakLabelSet.Mode.values], default=WEAK_AUTO)

    @extend_schema(parameters=[Query], responses={200: shapes.TrainingPreviewOut}, tags=TAGS)
    def get(self, request: Request) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            inputs = training_inputs_preview(**query.validated_data)
        except Stage1DataError as exc:
            return _bad_request(exc)
        return Response(
            {
                "modality": inputs.modality,
                "label_sources": inputs.label_sources,
                "weak_mode": inputs.weak_mode,
                "weak_schema_version": inputs.weak_schema_version,
                "counts": inputs.counts,
                "problem": inputs.problem,
            }
        )


class InferenceRunApi(APIView):
    """POST: predict a cohort (modality, dates, patients; empty = everything the
    active models have not predicted); 202 with the job."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    class Input(serializers.Serializer):
        modality = serializers.SlugRelatedField(
            slug_field="code", queryset=Modality.objects.all(), required=False, allow_null=True
        )
        model_version = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.all(), required=False, allow_null=True
        )
        date_from = serializers.DateField(required=False, allow_null=True)
        date_to = serializers.DateField(required=False, allow_null=True)
        patient_ids = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, default=list, max_length=10_000
        )

    @extend_schema(request=Input, responses={202: shapes.InferenceStartedOut}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        cohort = Cohort(
            modalities=[d["modality"].code] if d.get("modality") else [],
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
            patient_ids=d.get("patient_ids") or [],
        )
        try:
            job = inference_job_create(cohort=cohort, model_version=d.get("model_version"), user=request.user)
        except Stage1DataError as exc:
            return _bad_request(exc)
        job_enqueue(job=job, task=stage1_infer_task)
        return Response({"job": job.pk, "versions": job.params["versions"]}, status=202)


class ReasonInput(serializers.Serializer):
    # Not only white space (trimmed, it would be blank): the pattern says so in the schema.
    reason = serializers.CharField(
        max_length=2000, validators=[RegexValidator(r"\S", "A reason is required.")]
    )


class PromoteInput(ReasonInput):
    confirm_worse = serializers.BooleanField(
        default=False,
        help_text="Promote although the version is worse than the active one on held-out gold "
        "(a first try without it answers 409 with the comparison).",
    )


class PromoteApi(APIView):
    """POST {"reason": ...}: make this version the active one of its modality. A version
    worse than the active one answers 409 with {"detail", "comparison"} unless
    "confirm_worse": true; the promotion then records that the warning was overridden."""

    permission_classes = [perm(PERM_PROMOTE)]

    @extend_schema(request=PromoteInput, responses=PROMOTED, tags=TAGS)
    def post(self, request: Request, pk: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=pk)
        data = PromoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            record = model_promote(
                version=version, user=request.user, reason=d["reason"], confirm_worse=d["confirm_worse"]
            )
        except PromotionNeedsConfirmation as exc:
            body = {"detail": str(exc), "comparison": exc.warning.as_dict()}
            return Response(body, status=status.HTTP_409_CONFLICT)
        except PromotionError as exc:
            return _conflict(exc)
        return Response(_promotion(record))


class RollbackApi(APIView):
    """POST {"modality": code, "reason": ...}: re-activate the previously active version."""

    permission_classes = [perm(PERM_PROMOTE)]

    class Input(ReasonInput):
        modality = serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all())

    @extend_schema(request=Input, responses=PROMOTED, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            record = model_rollback(modality=d["modality"], user=request.user, reason=d["reason"])
        except PromotionError as exc:
            return _conflict(exc)
        return Response(_promotion(record))


def _promotion(record: ModelPromotion) -> dict[str, Any]:
    return {
        "id": record.pk,
        "action": record.action,
        "model_version": record.model_version_id,
        "previous": record.previous_id,
        "reason": record.reason,
        "overrode_warning": record.overrode_warning,
        "user": record.user.get_username(),
        "created_at": record.created_at,
    }


class CompareApi(APIView):
    """GET ?candidate=pk&baseline=pk (default: the active version): both on the
    held-out reports both predicted, with per-key deltas and McNemar counts."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(
        parameters=[
            OpenApiParameter("candidate", ID, required=True, description="model version id"),
            OpenApiParameter("baseline", ID, description="model version id; default: the active one"),
        ],
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        try:
            candidate_id = bounded_int(request.query_params.get("candidate", ""), name="candidate")
            candidate = ModelVersion.objects.get(pk=candidate_id)
            baseline_id = request.query_params.get("baseline")
            baseline = (
                ModelVersion.objects.get(pk=bounded_int(baseline_id, name="baseline"))
                if baseline_id
                else model_version_active(modality=candidate.modality)
            )
            if baseline is None:
                raise ModelVersion.DoesNotExist
            return Response(versions_compare(candidate, baseline))
        except (ValueError, ModelVersion.DoesNotExist):
            return Response(
                {"detail": "give candidate (and baseline, or have an active version) as model version ids"},
                status=400,
            )
        except PromotionError as exc:
            return _conflict(exc)


class HeldoutApi(APIView):
    """GET ?modality=code: the ids of the fixed held-out gold reports."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(parameters=[MODALITY_PARAM], responses={200: shapes.HeldoutOut}, tags=TAGS)
    def get(self, request: Request) -> Response:
        modality = get_object_or_404(Modality, code=request.query_params.get("modality", ""))
        return Response({"modality": modality.code, "report_ids": heldout_report_ids(modality)})


class ReportStage1Api(APIView):
    """GET: stage 1 for one report with the active model (stored, or computed now)."""

    permission_classes = [perm(PERM_REVIEW, PERM_RUN_JOBS)]

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT}, tags=TAGS)
    def get(self, request: Request, pk: int) -> Response:
        report = get_object_or_404(Report, pk=pk)
        try:
            return Response(predict_report(report).to_dict())
        except Stage1ModelUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)

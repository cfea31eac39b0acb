"""Weak labelling runs (Celery job), their evaluation against gold, a report's weak labels."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors
from annotations.api import shapes
from annotations.api.common import perm
from annotations.models import Modality, Report, WeakLabelSet
from annotations.services.weak_labels import WEAK_MODES, WeakLabelError, weak_label_job_create
from annotations.tasks import weak_label_task
from jobs.services import job_enqueue
from radreview.roles import PERM_RUN_JOBS


class WeakLabelRunApi(APIView):
    """GET: recent runs. POST {"modalities": [...], "modes": [...], "prune_older": bool}: start one."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    class Input(serializers.Serializer):
        modalities = serializers.ListField(
            child=serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all()),
            allow_empty=False,
            min_length=1,  # allow_empty does not reach the schema; min_length is its minItems
        )
        modes = serializers.ListField(
            child=serializers.ChoiceField(choices=list(WEAK_MODES)),
            default=list(WEAK_MODES),
            allow_empty=False,
            min_length=1,
        )
        prune_older = serializers.BooleanField(default=False)

    @extend_schema(responses={200: shapes.WeakLabelRunsOut})
    def get(self, request: Request) -> Response:
        runs = [
            {
                "job": j.pk,
                "status": j.status,
                "progress_done": j.progress_done,
                "progress_total": j.progress_total,
                "params": j.params,
                "created_at": j.created_at,
                "finished_at": j.finished_at,
            }
            for j in selectors.weak_label_runs()
        ]
        return Response({"results": runs})

    @extend_schema(responses={202: shapes.JobStartedOut})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        try:
            job = weak_label_job_create(
                modalities=[m.code for m in d["modalities"]],
                modes=d["modes"],
                prune_older=d["prune_older"],
                user=request.user,
            )
        except WeakLabelError as exc:
            raise serializers.ValidationError({"modes": [str(exc)]}) from None
        job_enqueue(job=job, task=weak_label_task)
        return Response({"job": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)


class WeakLabelEvaluationApi(APIView):
    """GET: per modality, each mode's precision / recall / F1 per key against gold (latest run)."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        out = {}
        for c in selectors.weak_label_comparison():
            out[c["modality"].code] = {"job": c["job"].pk, **c["run"]}
        return Response(out)


class ReportWeakLabelsApi(APIView):
    """GET: a report's weak labels, per mode and schema version, with the values that matched."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    @extend_schema(responses={200: shapes.ReportWeakLabelsOut})
    def get(self, request: Request, pk: int) -> Response:
        report = get_object_or_404(Report, pk=pk)
        sets = (
            WeakLabelSet.objects.filter(report=report)
            .prefetch_related("labels__key")
            .order_by("-schema_version", "mode")
        )
        body = [
            {
                "mode": s.mode,
                "schema_version": s.schema_version,
                "rules_version": s.rules_version,
                "job": s.job_id,
                "labels": [
                    {"key": lab.key.name, "status": lab.status, "values": lab.values}
                    for lab in s.labels.all()
                ],
            }
            for s in sets
        ]
        return Response({"report": report.pk, "label_sets": body})

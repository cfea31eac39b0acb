"""Inter-annotator agreement figures and adjudication into the gold version."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors
from annotations.api import shapes
from annotations.api.common import perm, service_call, workspace_out
from annotations.models import Assignment, Modality, Report
from annotations.permissions import PERM_ADJUDICATE
from annotations.services.adjudication import (
    adjudication_create,
    adjudication_differences,
    adjudication_pick,
    adjudication_versions,
)
from annotations.services.agreement import agreement_for
from radreview.bounds import IdField


class AgreementApi(APIView):
    """GET ?modality=&annotator_a=&annotator_b=: kappa per key, span F1, pair agreement.
    Without annotators: the pair that double-annotated the most reports. The answer
    lists every pair ("annotator_pairs") so a client can ask for another."""

    permission_classes = [perm(PERM_ADJUDICATE)]

    class Input(serializers.Serializer):
        modality = serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all())
        annotator_a = serializers.PrimaryKeyRelatedField(
            queryset=get_user_model().objects.all(), required=False, allow_null=True, default=None
        )
        annotator_b = serializers.PrimaryKeyRelatedField(
            queryset=get_user_model().objects.all(), required=False, allow_null=True, default=None
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            a, b = attrs["annotator_a"], attrs["annotator_b"]
            if (a is None) != (b is None):
                raise serializers.ValidationError("Give both annotator_a and annotator_b, or neither.")
            if a is not None and a == b:
                raise serializers.ValidationError("annotator_a and annotator_b must be two different people.")
            return attrs

    @extend_schema(parameters=[Input], responses={200: shapes.AgreementOut})
    def get(self, request: Request) -> Response:
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        modality = data.validated_data["modality"]
        pairs = selectors.double_annotated(modality=modality)
        a, b = data.validated_data["annotator_a"], data.validated_data["annotator_b"]
        if a is None and pairs:
            a, b = pairs[0]["a"], pairs[0]["b"]
        body: dict[str, Any] = {
            "modality": modality.code,
            "annotator_pairs": [
                {
                    "annotator_a": p["a"].pk,
                    "annotator_b": p["b"].pk,
                    "usernames": [p["a"].get_username(), p["b"].get_username()],
                    "reports": p["reports"],
                }
                for p in pairs
            ],
            "annotator_a": a.get_username() if a else None,
            "annotator_b": b.get_username() if b else None,
        }
        if a is None or b is None:
            body["detail"] = f"No {modality.name} report has been submitted by two annotators yet."
            return Response(body)
        result = agreement_for(modality=modality, annotator_a=a, annotator_b=b)
        return Response({**body, **result.as_dict()})


class AdjudicationApi(APIView):
    """GET ?modality=: the reports with two or more submitted annotations, and
    whether they are adjudicated (waiting first).
    POST {"report": id, "pick": assignment id} to take one version, or
    {"report", "mentions": [ids], "relations": [ids], "no_findings"} to merge."""

    permission_classes = [perm(PERM_ADJUDICATE)]

    class Filter(serializers.Serializer):
        modality = serializers.SlugField(help_text="modality code")

    @extend_schema(parameters=[Filter], responses={200: shapes.page_of(shapes.AdjudicationRowOut)})
    def get(self, request: Request) -> Response:
        code = request.query_params.get("modality", "")
        modality = Modality.objects.filter(code=code).first()
        if modality is None:
            raise serializers.ValidationError({"modality": f"Unknown modality {code!r}."})
        rows = selectors.reports_for_adjudication(modality=modality)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            [
                {
                    "report": r.pk,
                    "external_id": r.external_id,
                    "study_datetime": r.study_datetime,
                    "annotations": r.annotations,
                    "adjudicated": bool(r.adjudications),
                }
                for r in page or []
            ]
        )

    class Input(serializers.Serializer):
        report = serializers.PrimaryKeyRelatedField(queryset=Report.objects.all())
        pick = IdField(required=False, allow_null=True, default=None)
        mentions = serializers.ListField(child=IdField(), required=False, default=list)
        relations = serializers.ListField(child=IdField(), required=False, default=list)
        no_findings = serializers.BooleanField(required=False, default=False)

    @extend_schema(responses={201: shapes.WorkspaceOut, 409: shapes.ConflictOut})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        report = d["report"]
        if d["pick"] is not None:
            chosen = get_object_or_404(
                Assignment, pk=d["pick"], report=report, kind=Assignment.Kind.ANNOTATION
            )
            gold = service_call(adjudication_pick, report=report, user=request.user, assignment=chosen)
        else:
            gold = service_call(
                adjudication_create,
                report=report,
                user=request.user,
                mention_ids=d["mentions"],
                relation_ids=d["relations"],
                no_findings=d["no_findings"],
            )
        return Response(workspace_out(request, gold), status=status.HTTP_201_CREATED)


class AdjudicationDetailApi(APIView):
    """GET: both submitted versions of a report side by side (mentions, pairs,
    flags), the ids where they differ, and the current gold version."""

    permission_classes = [perm(PERM_ADJUDICATE)]

    @extend_schema(responses={200: shapes.AdjudicationDetailOut})
    def get(self, request: Request, report_id: int) -> Response:
        report = get_object_or_404(Report.objects.select_related("modality"), pk=report_id)
        versions = adjudication_versions(report=report)[:2]
        differences = adjudication_differences(versions=versions)
        gold = selectors.report_gold_assignment(report=report)
        return Response(
            {
                "report": report.pk,
                "external_id": report.external_id,
                "modality": report.modality.code,
                "versions": [workspace_out(request, v, with_suggestions=False) for v in versions],
                "differences": {
                    "only_in_one_mentions": sorted(differences.only_mentions),
                    "only_in_one_relations": sorted(differences.only_relations),
                    "flags_differ_mentions": sorted(differences.flags_differ),
                },
                "gold": {"assignment": gold.pk, "kind": gold.kind} if gold else None,
            }
        )

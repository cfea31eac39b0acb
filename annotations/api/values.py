"""Entity values (keyword lists per key): list, add, edit, delete, preview of matches."""

from __future__ import annotations

from collections.abc import Mapping

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.api import shapes
from annotations.api.common import perm, service_call, value_out
from annotations.models import EntityKey, EntityValue, Modality
from annotations.services import values as value_services
from radreview.bounds import IdField
from radreview.roles import PERM_MANAGE_SCHEMA


class EntityValueListApi(APIView):
    """GET ?modality=&key=: values with their report counts.
    POST {"key", "text", "kind", "case_sensitive"}: add one."""

    permission_classes = [perm(PERM_MANAGE_SCHEMA)]

    class Input(serializers.Serializer):
        key = serializers.PrimaryKeyRelatedField(queryset=EntityKey.objects.all())
        text = serializers.CharField(max_length=300, trim_whitespace=False)
        kind = serializers.ChoiceField(choices=["keyword", "regex"], default="keyword")
        case_sensitive = serializers.BooleanField(default=False)

    class Filter(serializers.Serializer):
        """The query: a key that is not an id is a 400 naming it (it was a server error)."""

        modality = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
        key = IdField(required=False)

    @extend_schema(parameters=[Filter], responses={200: shapes.page_of(shapes.ValueOut)})
    def get(self, request: Request) -> Response:
        params = self.Filter(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        rows = EntityValue.objects.select_related("key", "created_by").order_by(
            "key__entity_type__order", "key__order", "text"
        )
        if p.get("modality"):
            rows = rows.filter(key__entity_type__modality__code=p["modality"])
        if p.get("key") is not None:
            rows = rows.filter(key_id=p["key"])
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([value_out(v) for v in page or []])

    @extend_schema(responses={201: shapes.ValueOut, 409: shapes.ConflictOut})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        value = service_call(value_services.entity_value_create, user=request.user, **data.validated_data)
        return Response(value_out(value), status=status.HTTP_201_CREATED)


class EntityValueDetailApi(APIView):
    permission_classes = [perm(PERM_MANAGE_SCHEMA)]

    class Input(serializers.Serializer):
        text = serializers.CharField(max_length=300, trim_whitespace=False)
        kind = serializers.ChoiceField(choices=["keyword", "regex"])
        case_sensitive = serializers.BooleanField(default=False)

    @extend_schema(request=Input, responses={200: shapes.ValueOut, 409: shapes.ConflictOut})
    def patch(self, request: Request, pk: int) -> Response:
        value = get_object_or_404(EntityValue.objects.select_related("key", "created_by"), pk=pk)
        if not isinstance(request.data, Mapping):
            raise serializers.ValidationError({"detail": "Send an object with text, kind or case_sensitive."})
        merged = {
            "text": value.text,
            "kind": value.kind,
            "case_sensitive": value.case_sensitive,
            **request.data,
        }
        data = self.Input(data=merged)
        data.is_valid(raise_exception=True)
        value = service_call(value_services.entity_value_update, value=value, **data.validated_data)
        return Response(value_out(value))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        value = get_object_or_404(EntityValue.objects.select_related("key"), pk=pk)
        value_services.entity_value_delete(value=value)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EntityValuePreviewApi(APIView):
    """GET ?modality=&text=&kind=&case_sensitive=: where a candidate value would match."""

    permission_classes = [perm(PERM_MANAGE_SCHEMA)]

    class Filter(serializers.Serializer):
        modality = serializers.SlugField(help_text="modality code")
        text = serializers.CharField(required=False, allow_blank=True)
        kind = serializers.ChoiceField(choices=["keyword", "regex"], default="keyword")
        case_sensitive = serializers.BooleanField(default=False)

    @extend_schema(parameters=[Filter], responses={200: shapes.PreviewOut})
    def get(self, request: Request) -> Response:
        q = request.query_params
        modality = get_object_or_404(Modality, code=q.get("modality", ""))
        preview = service_call(
            value_services.entity_value_preview,
            modality=modality,
            text=q.get("text", ""),
            kind=q.get("kind", "keyword"),
            case_sensitive=q.get("case_sensitive") in ("1", "true"),
        )
        hits = [
            {"report": h.report_id, "before": h.before, "match": h.match, "after": h.after}
            for h in preview.hits
        ]
        return Response(
            {
                "matched": preview.matched,
                "scanned": preview.scanned,
                "complete": preview.complete,
                "hits": hits,
            }
        )


class EntityValueCountApi(APIView):
    """POST: count again how many reports of the modality the value matches."""

    permission_classes = [perm(PERM_MANAGE_SCHEMA)]

    @extend_schema(responses={200: shapes.ValueOut})
    def post(self, request: Request, pk: int) -> Response:
        value = get_object_or_404(EntityValue.objects.select_related("key", "created_by"), pk=pk)
        value_services.entity_value_count(value=value)
        return Response(value_out(value))

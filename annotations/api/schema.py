"""Read-only API over the annotation schema: modalities, their entity types,
keys (with what each pairs with) and entity values.

Who: PERM_VIEW_REPORTS (every role): annotators label with these keys and
values, clinicians read findings named by them. Changing values is
/api/entity-values/ (PERM_MANAGE_SCHEMA, annotations/api/values.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotations.api.common import perm
from annotations.models import EntityKey, EntityType, EntityValue, Modality
from radreview.roles import PERM_VIEW_REPORTS

TAGS = ["schema"]


class EntityValueOut(serializers.ModelSerializer):
    class Meta:
        model = EntityValue
        fields = ["id", "text", "kind", "case_sensitive"]


class EntityKeyOut(serializers.ModelSerializer):
    entity_type = serializers.CharField(source="entity_type.name")
    modality = serializers.CharField(source="entity_type.modality.code")
    pairs_with = serializers.CharField(
        source="pairs_with.name", allow_null=True, help_text="entity type this key is paired with"
    )
    implicit_location = serializers.CharField(source="implicit_location.name", allow_null=True)
    # DRF's metaclass moves declared fields off the class, so this never replaces
    # Field.parent; the stubs cannot see that.
    parent = serializers.CharField(source="parent.name", allow_null=True)  # type: ignore[assignment]

    class Meta:
        model = EntityKey
        fields = [
            "id",
            "name",
            "description",
            "modality",
            "entity_type",
            "pairs_with",
            "implicit_location",
            "parent",
            "is_active",
            "order",
        ]


class EntityKeyWithValuesOut(EntityKeyOut):
    values = EntityValueOut(many=True, read_only=True)

    class Meta(EntityKeyOut.Meta):
        fields = [*EntityKeyOut.Meta.fields, "values"]


class EntityTypeOut(serializers.ModelSerializer):
    keys = EntityKeyWithValuesOut(many=True, read_only=True)

    class Meta:
        model = EntityType
        fields = ["id", "name", "role", "order", "keys"]


class ModalityOut(serializers.ModelSerializer):
    class Meta:
        model = Modality
        fields = ["id", "code", "name", "schema_version"]


class ModalityDetailOut(ModalityOut):
    entity_types = EntityTypeOut(many=True, read_only=True)

    class Meta(ModalityOut.Meta):
        fields = [*ModalityOut.Meta.fields, "entity_types"]


_KEY_RELATED = ("entity_type__modality", "pairs_with", "implicit_location", "parent")


class ModalityListApi(generics.ListAPIView):
    """Every modality with its schema version."""

    permission_classes = [perm(PERM_VIEW_REPORTS)]
    serializer_class = ModalityOut
    pagination_class = None  # a site has a handful
    queryset = Modality.objects.order_by("code")

    @extend_schema(tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ModalityDetailApi(generics.RetrieveAPIView):
    """A modality's whole schema: entity types, their keys and each key's values."""

    permission_classes = [perm(PERM_VIEW_REPORTS)]
    serializer_class = ModalityDetailOut
    lookup_field = "code"

    def get_queryset(self) -> QuerySet[Modality]:
        keys = EntityKey.objects.select_related(*_KEY_RELATED).prefetch_related(
            Prefetch("values", queryset=EntityValue.objects.order_by("text"))
        )
        types = EntityType.objects.order_by("order", "name").prefetch_related(
            Prefetch("keys", queryset=keys.order_by("order", "name"))
        )
        return Modality.objects.prefetch_related(Prefetch("entity_types", queryset=types))

    @extend_schema(tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class KeyFilter(serializers.Serializer):
    modality = serializers.SlugField(required=False, help_text="modality code")
    entity_type = serializers.CharField(required=False, max_length=100, help_text="entity type name")
    active = serializers.BooleanField(required=False, allow_null=True, default=None)


class EntityKeyListApi(generics.ListAPIView):
    """Entity keys, flat, filtered by modality and entity type."""

    permission_classes = [perm(PERM_VIEW_REPORTS)]
    serializer_class = EntityKeyOut

    def get_queryset(self) -> QuerySet[EntityKey]:
        params = KeyFilter(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        keys = EntityKey.objects.select_related(*_KEY_RELATED).order_by(
            "entity_type__modality__code", "entity_type__order", "order", "name"
        )
        if p.get("modality"):
            keys = keys.filter(entity_type__modality__code=p["modality"])
        if p.get("entity_type"):
            keys = keys.filter(entity_type__name=p["entity_type"])
        if p.get("active") is not None:
            keys = keys.filter(is_active=p["active"])
        return keys

    @extend_schema(parameters=[KeyFilter], tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

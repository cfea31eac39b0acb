"""Queue order (admins): random, by date, or most uncertain first."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.api import shapes
from annotations.api.common import perm, service_call
from annotations.models import Modality
from annotations.permissions import PERM_ASSIGN
from annotations.services.queue_order import ORDERS, queue_reorder


class QueueReorderApi(APIView):
    """POST {"order": "random" | "newest" | "oldest" | "uncertainty", "modality"?, "annotator"?}."""

    permission_classes = [perm(PERM_ASSIGN)]

    class Input(serializers.Serializer):
        order = serializers.ChoiceField(choices=list(ORDERS))
        modality = serializers.SlugRelatedField(
            slug_field="code", queryset=Modality.objects.all(), required=False
        )
        annotator = serializers.PrimaryKeyRelatedField(
            queryset=get_user_model().objects.all(), required=False
        )

    @extend_schema(responses={200: shapes.ReorderedOut, 409: shapes.ConflictOut})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        result = service_call(
            queue_reorder,
            order=d["order"],
            modality_id=d["modality"].pk if d.get("modality") else None,
            annotator_id=d["annotator"].pk if d.get("annotator") else None,
        )
        return Response({"updated": result.updated, "order": result.order})

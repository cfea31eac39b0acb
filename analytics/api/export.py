"""GET /api/export/: the export as a streamed file (analytics/export).

Admins only (PERM_EXPORT). Bad parameters are a 400 with the messages, as JSON.
POST takes the same parameters in the body; a patient_id only there (issue 17:
patient ids stay out of URLs, so a GET naming one is a 400).
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from analytics.export import FORMAT_INFO, PERM_EXPORT, ExportSpec, export_filename, export_lines
from analytics.export.params import ExportParams
from radreview.private_query import reject_private_query


class CanExport(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(PERM_EXPORT))


def export_response(spec: ExportSpec) -> StreamingHttpResponse:
    """The file, streamed: the web view and the API both answer with this."""
    content_type, _suffix, _title = FORMAT_INFO[spec.fmt]
    response = StreamingHttpResponse(export_lines(spec), content_type=content_type)
    name = export_filename(spec, stamp=timezone.localdate().strftime("%Y%m%d"))
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"  # PHI: never kept by a proxy or the browser cache
    return response


class ExportApi(APIView):
    """Verified findings (and, labelled apart, unverified predictions or gold)
    as JSONL, CSV or OMOP NOTE_NLP; or the reports as OMOP NOTE rows."""

    permission_classes = [CanExport]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # "?format=" names the export format here, not a DRF renderer.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[ExportParams],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="format=jsonl"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="format=csv, note_nlp, note"),
            (400, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="bad parameters"),
        },
        tags=["export"],
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        reject_private_query(request)
        params = ExportParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return export_response(params.spec())

    @extend_schema(
        request=ExportParams,
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="format=jsonl"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="format=csv, note_nlp, note"),
            (400, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="bad parameters"),
        },
        tags=["export"],
        operation_id="api_export_post",
    )
    def post(self, request: Request) -> StreamingHttpResponse:
        params = ExportParams(data=request.data)
        params.is_valid(raise_exception=True)
        return export_response(params.spec())

"""The export page (a form) and the download it submits to (a streamed file).

Admins only (PERM_EXPORT, see analytics/export/__init__.py for why). The form
posts, and the download answers the POST with the file: its filters (a patient
id) never reach a URL (issue 17). A GET download still works without a patient."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from analytics.api.export import export_response
from analytics.export import FORMAT_INFO, LABELS, PERM_EXPORT
from analytics.export.params import ExportParams
from annotations.models import Modality
from radreview.private_query import PRIVATE


def _context(request: HttpRequest, errors: Any = None) -> dict[str, Any]:
    values = request.POST if request.method == "POST" else request.GET
    return {
        "formats": [(code, info[2]) for code, info in FORMAT_INFO.items()],
        "labels": LABELS,
        "modalities": Modality.objects.order_by("code"),
        "values": values,
        "chosen_labels": values.getlist("labels") or ["verified"],
        "errors": errors,
    }


@require_GET
@permission_required(PERM_EXPORT, raise_exception=True)
def export_page(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/export.html", _context(request))


@require_http_methods(["GET", "POST"])
@permission_required(PERM_EXPORT, raise_exception=True)
def export_download(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if request.method == "GET" and PRIVATE & set(request.GET):
        errors = {"patient_id": ["Choose the patient with the form: patient ids are never put in a URL."]}
        return render(request, "analytics/export.html", _context(request, errors), status=400)
    params = ExportParams(data=request.POST if request.method == "POST" else request.GET)
    if not params.is_valid():
        return render(request, "analytics/export.html", _context(request, params.errors), status=400)
    return export_response(params.spec())

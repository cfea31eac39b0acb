"""REST API of clinician review. Reading the queue and deciding need PERM_REVIEW
(clinicians); the history is open to admins as well. A conflict with another
clinician is a 409 with a message; bad input a 400; never a 500."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from radreview.bounds import bounded_int
from radreview.private_query import reject_private_query
from review import selectors, services
from review.api.serializers import (
    AddIn,
    BulkIn,
    BulkOut,
    DecisionIn,
    DecisionOut,
    FindingOut,
    QueueIn,
    QueueOut,
    QueuePostIn,
    ReviewConflictOut,
    ReviewOut,
    decision_data,
    finding_data,
    review_row,
)
from review.models import ReviewFinding, ReviewReport
from review.permissions import can_review, can_view_history

PAGE_SIZE = 50


class IsClinician(BasePermission):
    message = "Only clinicians verify AI findings."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return can_review(user)


def _call(fn: Any, **kwargs: Any) -> Response | Any:
    try:
        return fn(**kwargs)
    except services.ReviewConflict as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    except DjangoValidationError as exc:
        return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)


class QueueApi(APIView):
    """The review queue. GET takes its filters in the query, except the patient;
    POST takes them all (offset too) in the body: patient ids stay out of URLs."""

    permission_classes = [IsClinician]

    @extend_schema(parameters=[QueueIn], responses={200: QueueOut})
    def get(self, request: Request) -> Response:
        reject_private_query(request)
        return self._queue(request.query_params)

    @extend_schema(request=QueuePostIn, responses={200: QueueOut})
    def post(self, request: Request) -> Response:
        return self._queue(request.data)

    def _queue(self, query: Any) -> Response:
        if not hasattr(query, "get"):
            detail = ["Send the filters as an object."]
            return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)
        filters, errors = selectors.QueueFilters.from_query(_strings(query))
        if errors:
            return Response({"detail": errors}, status=status.HTTP_400_BAD_REQUEST)
        try:
            offset = bounded_int(query.get("offset", 0), name="offset")
        except ValueError as exc:
            return Response({"detail": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        rows, has_next = selectors.review_queue(filters=filters, offset=offset, limit=PAGE_SIZE)
        counts = {value: n for value, _, n in selectors.review_status_counts(filters=filters)}
        return Response(
            {
                "counts": counts,
                "results": [review_row(r) for r in rows],
                "next_offset": offset + PAGE_SIZE if has_next else None,
            }
        )


def _strings(query: Any) -> dict[str, str]:
    """A JSON body's values as the query-string text the filters parse (a number
    or null becomes its text; a list or object is no filter value and is dropped)."""
    out = {}
    for name in ("status", "modality", "model_version", "patient", "date_from", "date_to", "finding", "sort"):
        value = query.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            out[name] = str(value)
    return out


def _review(report_id: int) -> ReviewReport:
    review = selectors.review_for_report(report_id=report_id)
    if review is None:
        raise Http404("This report has no AI findings to review.")
    return review


class ReviewApi(APIView):
    permission_classes = [IsClinician]

    @extend_schema(responses={200: ReviewOut})
    def get(self, request: Request, report_id: int) -> Response:
        review = _review(report_id)
        findings = selectors.review_findings(review=review)
        return Response(review_row(review) | {"findings": [finding_data(f) for f in findings]})


class DecisionApi(APIView):
    permission_classes = [IsClinician]

    @extend_schema(request=DecisionIn, responses={200: FindingOut, 409: ReviewConflictOut})
    def post(self, request: Request, finding_id: int) -> Response:
        get_object_or_404(ReviewFinding, pk=finding_id)
        data = DecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values["action"] == "undo":
            result = _call(
                services.finding_undo, finding_id=finding_id, user=request.user, version=values["version"]
            )
        else:
            result = _call(services.finding_decide, finding_id=finding_id, user=request.user, **values)
        if isinstance(result, Response):
            return result
        return Response(finding_data(result))


class AddApi(APIView):
    permission_classes = [IsClinician]

    @extend_schema(request=AddIn, responses={201: FindingOut, 409: ReviewConflictOut})
    def post(self, request: Request, report_id: int) -> Response:
        review = _review(report_id)
        data = AddIn(data=request.data)
        data.is_valid(raise_exception=True)
        result = _call(services.finding_add, review_id=review.pk, user=request.user, **data.validated_data)
        if isinstance(result, Response):
            return result
        return Response(finding_data(result), status=status.HTTP_201_CREATED)


class BulkApi(APIView):
    """Approve or reject several findings of one report; approval skips flagged
    findings and findings without evidence in the report, and says so."""

    permission_classes = [IsClinician]

    @extend_schema(request=BulkIn, responses={200: BulkOut, 409: ReviewConflictOut})
    def post(self, request: Request, report_id: int) -> Response:
        review = _review(report_id)
        data = BulkIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = _call(
            services.findings_bulk_decide,
            review_id=review.pk,
            user=request.user,
            action=values["action"],
            versions={item["id"]: item["version"] for item in values["findings"]},
            reason_code=values["reason_code"],
            comment=values["comment"],
        )
        if isinstance(result, Response):
            return result
        skipped = [[key, why] for key, why in result.skipped]
        return Response({"done": result.done, "skipped": skipped, "message": result.message})


class HistoryApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: DecisionOut(many=True)})
    def get(self, request: Request, report_id: int) -> Response:
        if not can_view_history(request.user):
            raise PermissionDenied("Only clinicians and admins see review history.")
        return Response([decision_data(d) for d in selectors.report_history(report_id=report_id)])

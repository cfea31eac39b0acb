"""Assignments (the annotator queue and admin assignment), mentions, relations (pairs)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors
from annotations.api import shapes
from annotations.api.common import (
    assignment_for,
    assignment_row,
    mention_out,
    perm,
    relation_out,
    service_call,
    workspace_out,
)
from annotations.models import Assignment, Mention, Modality, Relation
from annotations.permissions import PERM_ADJUDICATE, PERM_ASSIGN
from annotations.services import annotation
from annotations.services.assignments import (
    assignment_report_ids,
    assignment_unassign,
    assignments_create,
    assignments_take_back,
)
from annotations.services.queue_order import ORDERS
from annotations.workspace import workspace_build
from radreview.bounds import IdField, OffsetField
from radreview.roles import PERM_ANNOTATE


class AssignmentListApi(APIView):
    """GET: my assignments (admins with assign_reports: ?all=1 for everyone's).
    POST (admins): assign a batch / sample / search to one or two annotators."""

    class AssignInput(serializers.Serializer):
        modality = serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all())
        how = serializers.ChoiceField(choices=["batch", "sample", "search"])
        external_ids = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        n = serializers.IntegerField(required=False, min_value=1, allow_null=True, default=None)
        query = serializers.CharField(required=False, allow_blank=True, default="")
        only_unassigned = serializers.BooleanField(required=False, default=True)
        annotators = serializers.PrimaryKeyRelatedField(many=True, queryset=get_user_model().objects.all())
        order = serializers.ChoiceField(choices=list(ORDERS), required=False, default="random")

    def get_permissions(self) -> list[BasePermission]:
        return [IsAuthenticated()] if self.request.method == "GET" else [perm(PERM_ASSIGN)()]

    @extend_schema(responses={200: shapes.page_of(shapes.AssignmentRowOut)})
    def get(self, request: Request) -> Response:
        rows = Assignment.objects.select_related("report__modality", "annotator").defer("report__text")
        if not (request.query_params.get("all") and request.user.has_perm(PERM_ASSIGN)):
            if not request.user.has_perm(PERM_ANNOTATE) and not request.user.has_perm(PERM_ADJUDICATE):
                raise PermissionDenied("Only annotators have a queue.")
            # The checks above admit no anonymous user: the pk is an annotator's.
            rows = rows.filter(annotator_id=request.user.pk)
        for field in ("status", "kind"):
            if request.query_params.get(field):
                rows = rows.filter(**{field: request.query_params[field]})
        if request.query_params.get("modality"):
            rows = rows.filter(report__modality__code=request.query_params["modality"])
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            rows.order_by(selectors.queue_status_order(), "rank", "id"), request, view=self
        )
        return paginator.get_paginated_response([assignment_row(a) for a in page or []])

    @extend_schema(responses={201: shapes.AssignedOut, 409: shapes.ConflictOut})
    def post(self, request: Request) -> Response:
        data = self.AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        ids = service_call(
            assignment_report_ids,
            modality=d["modality"],
            how=d["how"],
            external_ids=d["external_ids"],
            n=d["n"],
            query=d["query"],
            only_unassigned=d["only_unassigned"],
        )
        result = service_call(
            assignments_create,
            report_ids=ids,
            annotators=d["annotators"],
            assigned_by=request.user,
            order=d["order"],
        )
        body = {"reports": result.reports, "created": result.created, "skipped": result.skipped}
        return Response(body, status=status.HTTP_201_CREATED)


class AssignmentDetailApi(APIView):
    """GET: the workspace (text, mentions, pairs, suggestions, consistency issues).
    PATCH: {"no_findings": bool}. DELETE (admins who assign): take back an
    assignment nobody has started."""

    class PatchInput(serializers.Serializer):
        no_findings = serializers.BooleanField()

    def get_permissions(self) -> list[BasePermission]:
        return [perm(PERM_ASSIGN)()] if self.request.method == "DELETE" else [IsAuthenticated()]

    @extend_schema(responses={204: None, 409: shapes.ConflictOut})
    def delete(self, request: Request, pk: int) -> Response:
        assignment = get_object_or_404(Assignment, pk=pk)
        service_call(assignment_unassign, assignment=assignment)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: shapes.WorkspaceOut})
    def get(self, request: Request, pk: int) -> Response:
        return Response(workspace_out(request, assignment_for(request, pk, edit=False)))

    @extend_schema(responses={200: shapes.WorkspaceOut})
    def patch(self, request: Request, pk: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        data = self.PatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        service_call(
            annotation.assignment_set_no_findings,
            assignment=assignment,
            user=request.user,
            **data.validated_data,
        )
        return Response(workspace_out(request, assignment))


class AssignmentSubmitApi(APIView):
    """POST {"force": bool}: submit; without force, consistency issues block it (200, submitted false)."""

    class Input(serializers.Serializer):
        force = serializers.BooleanField(required=False, default=False)

    @extend_schema(request=Input, responses={200: shapes.SubmittedOut})
    def post(self, request: Request, pk: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        data = self.Input(data=request.data if request.data else {})
        data.is_valid(raise_exception=True)
        force = data.validated_data["force"]
        result = service_call(
            annotation.assignment_submit, assignment=assignment, user=request.user, force=force
        )
        issues = [{"code": i.code, "message": i.message} for i in result.issues]
        return Response({"submitted": result.submitted, "issues": issues})


class AssignmentReopenApi(APIView):
    @extend_schema(responses={200: shapes.WorkspaceOut})
    def post(self, request: Request, pk: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        service_call(annotation.assignment_reopen, assignment=assignment, user=request.user)
        return Response(workspace_out(request, assignment))


class MentionCreateApi(APIView):
    """POST {"key": id, "start", "end", "text"?, "negated"?, "uncertain"?, "learn"?}: code-point offsets."""

    class Input(serializers.Serializer):
        key = IdField()
        start = OffsetField()
        end = OffsetField()
        text = serializers.CharField(required=False, trim_whitespace=False, allow_null=True, default=None)
        negated = serializers.BooleanField(required=False, default=False)
        uncertain = serializers.BooleanField(required=False, default=False)
        learn = serializers.BooleanField(required=False, default=True)

    @extend_schema(responses={201: shapes.MentionOut})
    def post(self, request: Request, pk: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        d["key_id"] = d.pop("key")
        mention = service_call(annotation.mention_create, assignment=assignment, user=request.user, **d)
        return Response(mention_out(mention, assignment.report.text), status=status.HTTP_201_CREATED)


class MentionDetailApi(APIView):
    """PATCH {"negated"?, "uncertain"?, "key"?, "start"? + "end"? (+ "text" to check them)}:
    change flags, key, or move the span (code points); DELETE."""

    class Input(serializers.Serializer):
        negated = serializers.BooleanField(required=False)
        uncertain = serializers.BooleanField(required=False)
        key = IdField(required=False)
        start = OffsetField(required=False)
        end = OffsetField(required=False)
        text = serializers.CharField(required=False, trim_whitespace=False, allow_null=True)

    @extend_schema(responses={200: shapes.MentionOut})
    def patch(self, request: Request, pk: int, mention_id: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        mention = get_object_or_404(
            Mention.objects.select_related("key"), pk=mention_id, assignment=assignment
        )
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        if "key" in d:
            d["key_id"] = d.pop("key")
        mention = service_call(annotation.mention_update, mention=mention, user=request.user, **d)
        return Response(mention_out(mention, assignment.report.text))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, mention_id: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        mention = get_object_or_404(Mention, pk=mention_id, assignment=assignment)
        service_call(annotation.mention_delete, mention=mention, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RelationCreateApi(APIView):
    """POST {"source_mention": id, "target_mention": id} or {"source_mention", "target_key": id}."""

    class Input(serializers.Serializer):
        source_mention = IdField()
        target_mention = IdField(required=False, allow_null=True, default=None)
        target_key = IdField(required=False, allow_null=True, default=None)

    @extend_schema(responses={201: shapes.RelationOut})
    def post(self, request: Request, pk: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        relation = service_call(
            annotation.relation_create,
            assignment=assignment,
            user=request.user,
            source_mention_id=d["source_mention"],
            target_mention_id=d["target_mention"],
            target_key_id=d["target_key"],
        )
        return Response(relation_out(relation), status=status.HTTP_201_CREATED)


class RelationDeleteApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, relation_id: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        relation = get_object_or_404(Relation, pk=relation_id, assignment=assignment)
        service_call(annotation.relation_delete, relation=relation, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SuggestionsAcceptApi(APIView):
    """POST: accept every current suggestion (entity-value match) as a mention.
    Answers {"created": n, "workspace": ...}. Accept one with POST mentions/
    and "learn": false."""

    @extend_schema(responses={200: shapes.AcceptedOut})
    def post(self, request: Request, pk: int) -> Response:
        assignment = assignment_for(request, pk, edit=True)
        ws = workspace_build(assignment=assignment, user=request.user)
        spans = [(s.key.pk, s.start, s.end) for s in ws.suggestions]
        created = service_call(
            annotation.mentions_accept, assignment=assignment, user=request.user, spans=spans
        )
        return Response({"created": len(created), "workspace": workspace_out(request, assignment)})


class AssignmentTakeBackApi(APIView):
    """POST {"annotator": id, "modality"?: code} (admins who assign): take back the
    annotator's assignments still to do and without mentions. Answers {"taken": n}."""

    permission_classes = [perm(PERM_ASSIGN)]

    class Input(serializers.Serializer):
        annotator = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all())
        modality = serializers.SlugRelatedField(
            slug_field="code", queryset=Modality.objects.all(), required=False, allow_null=True, default=None
        )

    @extend_schema(responses={200: shapes.TakenOut})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        taken = assignments_take_back(**data.validated_data)
        return Response({"taken": taken})

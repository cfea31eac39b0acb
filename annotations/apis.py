"""REST API of the annotation workspace: everything its screens do, with the same
services and the same permission checks (DRF answers 401/403, never a redirect).

Services raise django's ValidationError; `_service` turns it into a 400 with the
message. Reads go through selectors and the workspace read model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations import selectors
from annotations.models import (
    Assignment,
    EntityKey,
    EntityValue,
    Mention,
    Modality,
    Relation,
    Report,
    WeakLabelSet,
)
from annotations.permissions import PERM_ADJUDICATE, PERM_ASSIGN, can_edit_assignment
from annotations.services import annotation
from annotations.services import values as value_services
from annotations.services.adjudication import adjudication_create, adjudication_pick
from annotations.services.agreement import agreement_for
from annotations.services.assignments import assignment_report_ids, assignments_create
from annotations.services.queue_order import queue_reorder
from annotations.services.weak_labels import weak_label_job_create
from annotations.tasks import weak_label_task
from annotations.weak.labels import MODES
from annotations.workspace import workspace_build
from jobs.services import job_enqueue
from radreview.roles import PERM_ANNOTATE, PERM_MANAGE_SCHEMA, PERM_RUN_JOBS

T = TypeVar("T")


def perm(codename: str) -> type[BasePermission]:
    """A DRF permission class requiring one Django permission."""

    class HasPerm(BasePermission):
        def has_permission(self, request: Request, view: APIView) -> bool:
            return bool(request.user and request.user.is_authenticated and request.user.has_perm(codename))

    HasPerm.__name__ = f"Has({codename})"
    return HasPerm


def _service(call: Callable[..., T], **kwargs: Any) -> T:
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        raise serializers.ValidationError(detail) from None


def _assignment(request: Request, pk: int, *, edit: bool) -> Assignment:
    assignment = get_object_or_404(Assignment.objects.select_related("report__modality", "annotator"), pk=pk)
    if can_edit_assignment(request.user, assignment):
        return assignment
    if not edit and request.user.has_perm(PERM_ADJUDICATE):
        return assignment
    raise PermissionDenied("This report is not assigned to you.")


# -- output --------------------------------------------------------------------------------


def _mention(m: Mention, text: str) -> dict[str, Any]:
    return {
        "id": m.pk,
        "key": m.key.name,
        "key_id": m.key_id,
        "start": m.start,
        "end": m.end,
        "text": text[m.start : m.end],
        "negated": m.negated,
        "uncertain": m.uncertain,
    }


def _relation(r: Relation) -> dict[str, Any]:
    return {
        "id": r.pk,
        "source_key": r.source_key.name,
        "target_key": r.target_key.name,
        "source_mention": r.source_mention_id,
        "target_mention": r.target_mention_id,
    }


def _assignment_row(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "kind": a.kind,
        "status": a.status,
        "no_findings": a.no_findings,
        "rank": a.rank,
        "annotator": a.annotator.get_username(),
        "submitted_at": a.submitted_at,
        "report": {
            "id": a.report_id,
            "external_id": a.report.external_id,
            "modality": a.report.modality.code,
            "study_datetime": a.report.study_datetime,
        },
    }


def _workspace(request: Request, assignment: Assignment) -> dict[str, Any]:
    ws = workspace_build(assignment=assignment, user=request.user)
    text = assignment.report.text
    return {
        **_assignment_row(assignment),
        "editable": ws.editable,
        "text": text,
        "offsets": "Unicode code points into text, [start, end)",
        "mentions": [_mention(row.mention, text) for row in ws.rows],
        "relations": [_relation(r) for r in ws.relations],
        "suggestions": [
            {"key": s.key.name, "key_id": s.key.pk, "start": s.start, "end": s.end, "text": s.text}
            for s in ws.suggestions
        ],
        "issues": [
            {"code": i.code, "message": i.message, "mentions": list(i.mention_ids)} for i in ws.issues
        ],
    }


# -- assignments -----------------------------------------------------------------------------


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
        order = serializers.CharField(required=False, default="random")

    def get_permissions(self) -> list[BasePermission]:
        return [IsAuthenticated()] if self.request.method == "GET" else [perm(PERM_ASSIGN)()]

    def get(self, request: Request) -> Response:
        rows = Assignment.objects.select_related("report__modality", "annotator").defer("report__text")
        if not (request.query_params.get("all") and request.user.has_perm(PERM_ASSIGN)):
            if not request.user.has_perm(PERM_ANNOTATE) and not request.user.has_perm(PERM_ADJUDICATE):
                raise PermissionDenied("Only annotators have a queue.")
            rows = rows.filter(annotator=request.user)
        for field in ("status", "kind"):
            if request.query_params.get(field):
                rows = rows.filter(**{field: request.query_params[field]})
        if request.query_params.get("modality"):
            rows = rows.filter(report__modality__code=request.query_params["modality"])
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows.order_by("status", "rank", "id"), request, view=self)
        return paginator.get_paginated_response([_assignment_row(a) for a in page or []])

    def post(self, request: Request) -> Response:
        data = self.AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        ids = _service(
            assignment_report_ids,
            modality=d["modality"],
            how=d["how"],
            external_ids=d["external_ids"],
            n=d["n"],
            query=d["query"],
            only_unassigned=d["only_unassigned"],
        )
        result = _service(
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
    PATCH: {"no_findings": bool}."""

    class PatchInput(serializers.Serializer):
        no_findings = serializers.BooleanField()

    def get(self, request: Request, pk: int) -> Response:
        return Response(_workspace(request, _assignment(request, pk, edit=False)))

    def patch(self, request: Request, pk: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        data = self.PatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        _service(
            annotation.assignment_set_no_findings,
            assignment=assignment,
            user=request.user,
            **data.validated_data,
        )
        return Response(_workspace(request, assignment))


class AssignmentSubmitApi(APIView):
    """POST {"force": bool}: submit; without force, consistency issues block it (200, submitted false)."""

    def post(self, request: Request, pk: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        force = serializers.BooleanField().to_internal_value(request.data.get("force", False))
        result = _service(annotation.assignment_submit, assignment=assignment, user=request.user, force=force)
        issues = [{"code": i.code, "message": i.message} for i in result.issues]
        return Response({"submitted": result.submitted, "issues": issues})


class AssignmentReopenApi(APIView):
    def post(self, request: Request, pk: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        _service(annotation.assignment_reopen, assignment=assignment, user=request.user)
        return Response(_workspace(request, assignment))


class MentionCreateApi(APIView):
    """POST {"key": id, "start", "end", "text"?, "negated"?, "uncertain"?, "learn"?}: code-point offsets."""

    class Input(serializers.Serializer):
        key = serializers.IntegerField()
        start = serializers.IntegerField()
        end = serializers.IntegerField()
        text = serializers.CharField(required=False, trim_whitespace=False, allow_null=True, default=None)
        negated = serializers.BooleanField(required=False, default=False)
        uncertain = serializers.BooleanField(required=False, default=False)
        learn = serializers.BooleanField(required=False, default=True)

    def post(self, request: Request, pk: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        d["key_id"] = d.pop("key")
        mention = _service(annotation.mention_create, assignment=assignment, user=request.user, **d)
        return Response(_mention(mention, assignment.report.text), status=status.HTTP_201_CREATED)


class MentionDetailApi(APIView):
    """PATCH {"negated"?, "uncertain"?, "key"?}; DELETE."""

    class Input(serializers.Serializer):
        negated = serializers.BooleanField(required=False)
        uncertain = serializers.BooleanField(required=False)
        key = serializers.IntegerField(required=False)

    def patch(self, request: Request, pk: int, mention_id: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        mention = get_object_or_404(
            Mention.objects.select_related("key"), pk=mention_id, assignment=assignment
        )
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        if "key" in d:
            d["key_id"] = d.pop("key")
        mention = _service(annotation.mention_update, mention=mention, user=request.user, **d)
        return Response(_mention(mention, assignment.report.text))

    def delete(self, request: Request, pk: int, mention_id: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        mention = get_object_or_404(Mention, pk=mention_id, assignment=assignment)
        _service(annotation.mention_delete, mention=mention, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RelationCreateApi(APIView):
    """POST {"source_mention": id, "target_mention": id} or {"source_mention", "target_key": id}."""

    class Input(serializers.Serializer):
        source_mention = serializers.IntegerField()
        target_mention = serializers.IntegerField(required=False, allow_null=True, default=None)
        target_key = serializers.IntegerField(required=False, allow_null=True, default=None)

    def post(self, request: Request, pk: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        relation = _service(
            annotation.relation_create,
            assignment=assignment,
            user=request.user,
            source_mention_id=d["source_mention"],
            target_mention_id=d["target_mention"],
            target_key_id=d["target_key"],
        )
        return Response(_relation(relation), status=status.HTTP_201_CREATED)


class RelationDeleteApi(APIView):
    def delete(self, request: Request, pk: int, relation_id: int) -> Response:
        assignment = _assignment(request, pk, edit=True)
        relation = get_object_or_404(Relation, pk=relation_id, assignment=assignment)
        _service(annotation.relation_delete, relation=relation, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueReorderApi(APIView):
    """POST {"order": "random" | "newest" | "oldest" | "uncertainty", "modality"?, "annotator"?}."""

    permission_classes = [perm(PERM_ASSIGN)]

    class Input(serializers.Serializer):
        order = serializers.CharField()
        modality = serializers.SlugRelatedField(
            slug_field="code", queryset=Modality.objects.all(), required=False
        )
        annotator = serializers.PrimaryKeyRelatedField(
            queryset=get_user_model().objects.all(), required=False
        )

    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        result = _service(
            queue_reorder,
            order=d["order"],
            modality_id=d["modality"].pk if d.get("modality") else None,
            annotator_id=d["annotator"].pk if d.get("annotator") else None,
        )
        return Response({"updated": result.updated, "order": result.order})


# -- entity values ---------------------------------------------------------------------------


def _value(v: EntityValue) -> dict[str, Any]:
    return {
        "id": v.pk,
        "key": v.key.name,
        "key_id": v.key_id,
        "text": v.text,
        "kind": v.kind,
        "case_sensitive": v.case_sensitive,
        "report_count": v.report_count,
        "counted_at": v.counted_at,
        "created_by": v.created_by.get_username() if v.created_by else None,
        "created_at": v.created_at,
    }


class EntityValueListApi(APIView):
    """GET ?modality=&key=: values with their report counts.
    POST {"key", "text", "kind", "case_sensitive"}: add one."""

    permission_classes = [perm(PERM_MANAGE_SCHEMA)]

    class Input(serializers.Serializer):
        key = serializers.PrimaryKeyRelatedField(queryset=EntityKey.objects.all())
        text = serializers.CharField(max_length=300, trim_whitespace=False)
        kind = serializers.ChoiceField(choices=["keyword", "regex"], default="keyword")
        case_sensitive = serializers.BooleanField(default=False)

    def get(self, request: Request) -> Response:
        rows = EntityValue.objects.select_related("key", "created_by").order_by(
            "key__entity_type__order", "key__order", "text"
        )
        if request.query_params.get("modality"):
            rows = rows.filter(key__entity_type__modality__code=request.query_params["modality"])
        if request.query_params.get("key"):
            rows = rows.filter(key_id=request.query_params["key"])
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([_value(v) for v in page or []])

    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        value = _service(value_services.entity_value_create, user=request.user, **data.validated_data)
        return Response(_value(value), status=status.HTTP_201_CREATED)


class EntityValueDetailApi(APIView):
    permission_classes = [perm(PERM_MANAGE_SCHEMA)]

    class Input(serializers.Serializer):
        text = serializers.CharField(max_length=300, trim_whitespace=False)
        kind = serializers.ChoiceField(choices=["keyword", "regex"])
        case_sensitive = serializers.BooleanField(default=False)

    def patch(self, request: Request, pk: int) -> Response:
        value = get_object_or_404(EntityValue.objects.select_related("key", "created_by"), pk=pk)
        merged = {
            "text": value.text,
            "kind": value.kind,
            "case_sensitive": value.case_sensitive,
            **request.data,
        }
        data = self.Input(data=merged)
        data.is_valid(raise_exception=True)
        value = _service(value_services.entity_value_update, value=value, **data.validated_data)
        return Response(_value(value))

    def delete(self, request: Request, pk: int) -> Response:
        value = get_object_or_404(EntityValue.objects.select_related("key"), pk=pk)
        value_services.entity_value_delete(value=value)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EntityValuePreviewApi(APIView):
    """GET ?modality=&text=&kind=&case_sensitive=: where a candidate value would match."""

    permission_classes = [perm(PERM_MANAGE_SCHEMA)]

    def get(self, request: Request) -> Response:
        q = request.query_params
        modality = get_object_or_404(Modality, code=q.get("modality", ""))
        preview = _service(
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


# -- agreement and adjudication ----------------------------------------------------------------


class AgreementApi(APIView):
    """GET ?modality=&annotator_a=&annotator_b=: kappa per key, span F1, pair agreement."""

    permission_classes = [perm(PERM_ADJUDICATE)]

    def get(self, request: Request) -> Response:
        q = request.query_params
        modality = get_object_or_404(Modality, code=q.get("modality", ""))
        User = get_user_model()
        a = get_object_or_404(User, pk=q.get("annotator_a"))
        b = get_object_or_404(User, pk=q.get("annotator_b"))
        result = agreement_for(modality=modality, annotator_a=a, annotator_b=b)
        return Response(
            {
                "modality": modality.code,
                "annotator_a": a.get_username(),
                "annotator_b": b.get_username(),
                **result.as_dict(),
            }
        )


class AdjudicationApi(APIView):
    """POST {"report": id, "pick": assignment id} to take one version, or
    {"report", "mentions": [ids], "relations": [ids], "no_findings"} to merge."""

    permission_classes = [perm(PERM_ADJUDICATE)]

    class Input(serializers.Serializer):
        report = serializers.PrimaryKeyRelatedField(queryset=Report.objects.all())
        pick = serializers.IntegerField(required=False, allow_null=True, default=None)
        mentions = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        relations = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        no_findings = serializers.BooleanField(required=False, default=False)

    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        report = d["report"]
        if d["pick"] is not None:
            chosen = get_object_or_404(
                Assignment, pk=d["pick"], report=report, kind=Assignment.Kind.ANNOTATION
            )
            gold = _service(adjudication_pick, report=report, user=request.user, assignment=chosen)
        else:
            gold = _service(
                adjudication_create,
                report=report,
                user=request.user,
                mention_ids=d["mentions"],
                relation_ids=d["relations"],
                no_findings=d["no_findings"],
            )
        return Response(_workspace(request, gold), status=status.HTTP_201_CREATED)


# -- weak labels -------------------------------------------------------------------------------


class WeakLabelRunApi(APIView):
    """GET: recent runs. POST {"modalities": [...], "modes": [...], "prune_older": bool}: start one."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    class Input(serializers.Serializer):
        modalities = serializers.ListField(
            child=serializers.SlugRelatedField(slug_field="code", queryset=Modality.objects.all())
        )
        modes = serializers.ListField(child=serializers.ChoiceField(choices=list(MODES)), default=list(MODES))
        prune_older = serializers.BooleanField(default=False)

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

    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        job = weak_label_job_create(
            modalities=[m.code for m in d["modalities"]],
            modes=d["modes"],
            prune_older=d["prune_older"],
            user=request.user,
        )
        job_enqueue(job=job, task=weak_label_task)
        return Response({"job": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)


class WeakLabelEvaluationApi(APIView):
    """GET: per modality, each mode's precision / recall / F1 per key against gold (latest run)."""

    permission_classes = [perm(PERM_RUN_JOBS)]

    def get(self, request: Request) -> Response:
        out = {}
        for c in selectors.weak_label_comparison():
            out[c["modality"].code] = {"job": c["job"].pk, **c["run"]}
        return Response(out)


class ReportWeakLabelsApi(APIView):
    """GET: a report's weak labels, per mode and schema version, with the values that matched."""

    permission_classes = [perm(PERM_RUN_JOBS)]

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
                "job": s.job_id,
                "labels": [
                    {"key": lab.key.name, "status": lab.status, "values": lab.values}
                    for lab in s.labels.all()
                ],
            }
            for s in sets
        ]
        return Response({"report": report.pk, "label_sets": body})

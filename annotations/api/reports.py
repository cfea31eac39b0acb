"""Read-only API over reports and their gold annotations (mentions and pairs).

Who: users holding PERM_VIEW_REPORTS (annotators, clinicians and admins all do;
an account without a role gets 403), and of the reports only those they have
work on (selectors.reports_visible_to: an assignment, a review item; admins all);
another report is a 404, as if it did not exist. Lists carry metadata only, so a
page of 50 stays small; the report text comes with one report's detail.

Gold is the version of a report that counts (selectors.report_gold_assignment:
an adjudication, else imported gold, else the only submitted annotation). While
the user's own annotation of a report is open, its gold is hidden (blind double
annotation: the only submitted annotation may be the other annotator's).

A patient filter goes in a POST body, never the query string (issue 17): GET with
patient_id is a 400 that says so.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from annotations import selectors
from annotations.api.common import perm
from annotations.models import Assignment, Mention, Modality, Relation, Report
from radreview.private_query import reject_private_query
from radreview.roles import PERM_VIEW_REPORTS

TAGS = ["reports"]


class ReportFilter(serializers.Serializer):
    """Query parameters of the report list; bad values are a 400 naming the parameter."""

    modality = serializers.SlugField(required=False, help_text="modality code, e.g. chest_ct")
    patient_id = serializers.CharField(required=False, max_length=100)
    # DRF's metaclass moves declared fields off the class, so this never replaces
    # Field.source; the stubs cannot see that.
    source = serializers.CharField(required=False, max_length=100)  # type: ignore[assignment]
    date_from = serializers.DateField(required=False, help_text="study date on or after (YYYY-MM-DD)")
    date_to = serializers.DateField(required=False, help_text="study date on or before (YYYY-MM-DD)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["must not be before date_from"]})
        return attrs


def reports_filtered(params: dict[str, Any], reports: QuerySet[Report] | None = None) -> QuerySet[Report]:
    """`reports` (all by default) matching validated ReportFilter values."""
    if reports is None:
        reports = Report.objects.select_related("modality")
    if params.get("modality"):
        reports = reports.filter(modality__code=params["modality"])
    if params.get("patient_id"):
        reports = reports.filter(patient_id=params["patient_id"])
    if params.get("source"):
        reports = reports.filter(source=params["source"])
    tz = timezone.get_current_timezone()
    if params.get("date_from"):
        reports = reports.filter(
            study_datetime__gte=datetime.combine(params["date_from"], time.min, tzinfo=tz)
        )
    if params.get("date_to"):
        reports = reports.filter(study_datetime__lte=datetime.combine(params["date_to"], time.max, tzinfo=tz))
    return reports


class ReportOut(serializers.ModelSerializer):
    modality: serializers.SlugRelatedField[Modality] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )

    class Meta:
        model = Report
        fields = [
            "id",
            "source",
            "external_id",
            "patient_id",
            "study_datetime",
            "modality",
            "title",
            "created_at",
        ]


class ReportDetailOut(ReportOut):
    gold_assignment = serializers.SerializerMethodField(help_text="id of the gold version, null without gold")
    offsets = serializers.SerializerMethodField()

    class Meta(ReportOut.Meta):
        fields = [*ReportOut.Meta.fields, "text", "content_hash", "gold_assignment", "offsets"]

    def get_gold_assignment(self, report: Report) -> int | None:
        request = self.context.get("request")
        if request is not None and selectors.annotation_blind(user=request.user, report_id=report.pk):
            return None
        gold = selectors.report_gold_assignment(report=report)
        return gold.pk if gold else None

    def get_offsets(self, report: Report) -> str:
        return "Unicode code points into text, [start, end)"


class GoldMentionOut(serializers.ModelSerializer):
    key = serializers.CharField(source="key.name")
    entity_type = serializers.CharField(source="key.entity_type.name")
    text = serializers.SerializerMethodField(help_text="the span, text[start:end]")

    class Meta:
        model = Mention
        fields = ["id", "key", "key_id", "entity_type", "start", "end", "text", "negated", "uncertain"]

    def get_text(self, mention: Mention) -> str:
        return mention.report.text[mention.start : mention.end]


class GoldPairOut(serializers.ModelSerializer):
    source_key = serializers.CharField(source="source_key.name")
    target_key = serializers.CharField(source="target_key.name")

    class Meta:
        model = Relation
        fields = ["id", "source_key", "target_key", "source_mention", "target_mention"]


class ReportPagination(PageNumberPagination):
    page_size_query_param = "page_size"  # default settings PAGE_SIZE (50)
    max_page_size = 500


class ReportPageOut(serializers.Serializer):
    """One page of the list, as the POST form of it answers (the schema of GET's is generated)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ReportOut(many=True)


class ReportListApi(generics.ListAPIView):
    """Reports, newest study first, filtered by modality, patient, source and study
    date range. GET takes the filters in the query, except patient_id; POST takes
    them all in the body (the page stays ?page=N)."""

    permission_classes = [perm(PERM_VIEW_REPORTS)]
    serializer_class = ReportOut
    pagination_class = ReportPagination

    def get_queryset(self) -> QuerySet[Report]:
        data = self.request.data if self.request.method == "POST" else self.request.query_params
        params = ReportFilter(data=data)
        params.is_valid(raise_exception=True)
        visible = selectors.reports_visible_to(user=self.request.user)
        rows = reports_filtered(params.validated_data, visible)
        return rows.defer("text").order_by("-study_datetime", "-id")

    @extend_schema(parameters=[ReportFilter], tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reject_private_query(request)
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ReportFilter, responses=ReportPageOut, tags=TAGS, operation_id="api_reports_search"
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ReportDetailApi(generics.RetrieveAPIView):
    """One report with its text and the id of its gold version (null while the
    user's own annotation of it is open)."""

    permission_classes = [perm(PERM_VIEW_REPORTS)]
    serializer_class = ReportDetailOut
    queryset = Report.objects.none()  # for the schema; get_queryset answers requests

    def get_queryset(self) -> QuerySet[Report]:
        return selectors.reports_visible_to(user=self.request.user)

    @extend_schema(tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


BLIND = "Hidden while your annotation of this report is open (blind double annotation)."


def _gold(request: Request, report_pk: int) -> tuple[Report, Assignment | None]:
    """The report if the user may read it (else 404) and its gold; 403 while blind."""
    report = selectors.reports_visible_to(user=request.user).filter(pk=report_pk).first()
    if report is None:
        raise NotFound()
    if selectors.annotation_blind(user=request.user, report_id=report.pk):
        raise PermissionDenied(BLIND)
    return report, selectors.report_gold_assignment(report=report)


class ReportGoldMentionsApi(generics.ListAPIView):
    """The gold mentions of a report (empty when it has no gold), in text order."""

    permission_classes = [perm(PERM_VIEW_REPORTS)]
    serializer_class = GoldMentionOut
    pagination_class = None  # a report has tens of mentions, not thousands
    queryset = Mention.objects.none()  # for the schema; get_queryset answers requests

    def get_queryset(self) -> QuerySet[Mention]:
        _report, gold = _gold(self.request, self.kwargs["pk"])
        if gold is None:
            return Mention.objects.none()
        return (
            Mention.objects.filter(assignment=gold)
            .select_related("key__entity_type", "report")
            .order_by("start", "end", "id")
        )

    @extend_schema(tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ReportGoldPairsApi(generics.ListAPIView):
    """The gold pairs of a report: finding -> location / episode, with the
    mentions that evidence them (null for key-level pairs)."""

    permission_classes = [perm(PERM_VIEW_REPORTS)]
    serializer_class = GoldPairOut
    pagination_class = None
    queryset = Relation.objects.none()

    def get_queryset(self) -> QuerySet[Relation]:
        _report, gold = _gold(self.request, self.kwargs["pk"])
        if gold is None:
            return Relation.objects.none()
        return (
            Relation.objects.filter(assignment=gold).select_related("source_key", "target_key").order_by("id")
        )

    @extend_schema(tags=TAGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

"""What the annotation API answers, for its OpenAPI schema.

The views build their answers as dicts (annotations.api.common and the views);
these serializers only describe them (`@extend_schema(responses=...)`), so the
schema a client reads is the one the test suite checks every answer against
(tests/radreview/test_openapi_schemathesis.py). A nested value whose shape
varies (figures per key, a job's parameters) is documented as a JSON value.
"""

from __future__ import annotations

from rest_framework import serializers


class ReportRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    modality = serializers.CharField(help_text="modality code")
    study_datetime = serializers.DateTimeField(allow_null=True)


class AssignmentRowOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    no_findings = serializers.BooleanField()
    rank = serializers.FloatField()
    annotator = serializers.CharField(help_text="username")
    submitted_at = serializers.DateTimeField(allow_null=True)
    report = ReportRefOut()


class MentionOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    key_id = serializers.IntegerField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()
    negated = serializers.BooleanField()
    uncertain = serializers.BooleanField()


class RelationOut(serializers.Serializer):
    id = serializers.IntegerField()
    source_key = serializers.CharField()
    target_key = serializers.CharField()
    source_mention = serializers.IntegerField(allow_null=True)
    target_mention = serializers.IntegerField(allow_null=True)


class SuggestionOut(serializers.Serializer):
    key = serializers.CharField()
    key_id = serializers.IntegerField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()


class IssueOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    mentions = serializers.ListField(child=serializers.IntegerField())


class WorkspaceOut(AssignmentRowOut):
    editable = serializers.BooleanField()
    text = serializers.CharField()
    offsets = serializers.CharField()
    mentions = MentionOut(many=True)
    relations = RelationOut(many=True)
    suggestions = SuggestionOut(many=True)
    issues = IssueOut(many=True)


class AssignedOut(serializers.Serializer):
    reports = serializers.IntegerField()
    created = serializers.IntegerField()
    skipped = serializers.IntegerField()


class SubmitIssueOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class SubmittedOut(serializers.Serializer):
    submitted = serializers.BooleanField()
    issues = SubmitIssueOut(many=True)


class AcceptedOut(serializers.Serializer):
    created = serializers.IntegerField()
    workspace = WorkspaceOut()


class TakenOut(serializers.Serializer):
    taken = serializers.IntegerField()


class ReorderedOut(serializers.Serializer):
    updated = serializers.IntegerField()
    order = serializers.CharField()


class ValueOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    key_id = serializers.IntegerField()
    text = serializers.CharField()
    kind = serializers.CharField()
    case_sensitive = serializers.BooleanField()
    report_count = serializers.IntegerField(allow_null=True)
    counted_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class PreviewHitOut(serializers.Serializer):
    report = serializers.IntegerField()
    before = serializers.CharField(allow_blank=True)
    match = serializers.CharField()
    after = serializers.CharField(allow_blank=True)


class PreviewOut(serializers.Serializer):
    matched = serializers.IntegerField()
    scanned = serializers.IntegerField()
    complete = serializers.BooleanField()
    hits = PreviewHitOut(many=True)


class AdjudicationRowOut(serializers.Serializer):
    report = serializers.IntegerField()
    external_id = serializers.CharField()
    study_datetime = serializers.DateTimeField(allow_null=True)
    annotations = serializers.IntegerField()
    adjudicated = serializers.BooleanField()


class DifferencesOut(serializers.Serializer):
    only_in_one_mentions = serializers.ListField(child=serializers.IntegerField())
    only_in_one_relations = serializers.ListField(child=serializers.IntegerField())
    flags_differ_mentions = serializers.ListField(child=serializers.IntegerField())


class GoldRefOut(serializers.Serializer):
    assignment = serializers.IntegerField()
    kind = serializers.CharField()


class AdjudicationDetailOut(serializers.Serializer):
    report = serializers.IntegerField()
    external_id = serializers.CharField()
    modality = serializers.CharField()
    versions = WorkspaceOut(many=True)
    differences = DifferencesOut()
    gold = GoldRefOut(allow_null=True)


class AnnotatorPairOut(serializers.Serializer):
    annotator_a = serializers.IntegerField()
    annotator_b = serializers.IntegerField()
    usernames = serializers.ListField(child=serializers.CharField())
    reports = serializers.IntegerField()


class AgreementOut(serializers.Serializer):
    """Without a pair that double-annotated (`detail` says so) only the first five fields."""

    modality = serializers.CharField()
    annotator_pairs = AnnotatorPairOut(many=True)
    annotator_a = serializers.CharField(allow_null=True)
    annotator_b = serializers.CharField(allow_null=True)
    detail = serializers.CharField(required=False)
    reports = serializers.IntegerField(required=False)
    mean_kappa = serializers.FloatField(required=False, allow_null=True)
    keys = serializers.ListField(child=serializers.DictField(), required=False)
    spans = serializers.DictField(required=False)
    pairs = serializers.DictField(required=False)


class JobStartedOut(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.CharField()


class LabelImportOut(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.CharField()
    progress_message = serializers.CharField()
    params = serializers.DictField(help_text="filename, fmt, source, label_source")
    result = serializers.DictField(
        allow_null=True,
        help_text="ok, fmt, rows, reports, replaced, mentions, relations, no_findings, problems "
        "[{line, field, message}], problems_omitted; null until the import ends",
    )
    error = serializers.CharField()


class WeakLabelRunOut(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.CharField()
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    params = serializers.JSONField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class WeakLabelRunsOut(serializers.Serializer):
    results = WeakLabelRunOut(many=True)


class WeakLabelOut(serializers.Serializer):
    key = serializers.CharField()
    status = serializers.CharField()
    values = serializers.JSONField()


class WeakLabelSetOut(serializers.Serializer):
    mode = serializers.CharField()
    schema_version = serializers.IntegerField()
    rules_version = serializers.CharField(
        help_text="The rule engine's rules version (rule_engine mode), else empty."
    )
    job = serializers.IntegerField(allow_null=True)
    labels = WeakLabelOut(many=True)


class ReportWeakLabelsOut(serializers.Serializer):
    report = serializers.IntegerField()
    label_sets = WeakLabelSetOut(many=True)


def page_of(item: type[serializers.Serializer]) -> serializers.Serializer:
    """A page of DRF's PageNumberPagination with `item` results, as the views send it."""
    from drf_spectacular.utils import inline_serializer

    return inline_serializer(
        name=f"Page{item.__name__}",
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


class ConflictOut(serializers.Serializer):
    """The request is well formed but the data's state refuses it (409, radreview.conflict):
    `detail`, or the field the refusal is about, with its messages."""

    detail = serializers.ListField(child=serializers.CharField(), required=False)
    text = serializers.ListField(child=serializers.CharField(), required=False)

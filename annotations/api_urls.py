"""/api/ routes of the annotations app (mounted in radreview/api_urls.py).

One import per module of annotations/api/; add new areas the same way.
"""

from django.urls import path

from annotations.api import agreement, assignments, labels, queue, values, weak_labels
from annotations.api import reports as reports_api
from annotations.api import schema as schema_api

urlpatterns = [
    # assignments, mentions, relations (pairs)
    path("assignments/", assignments.AssignmentListApi.as_view(), name="api_assignments"),
    path(
        "assignments/take-back/",
        assignments.AssignmentTakeBackApi.as_view(),
        name="api_assignments_take_back",
    ),
    path("assignments/<id:pk>/", assignments.AssignmentDetailApi.as_view(), name="api_assignment"),
    path(
        "assignments/<id:pk>/submit/",
        assignments.AssignmentSubmitApi.as_view(),
        name="api_assignment_submit",
    ),
    path(
        "assignments/<id:pk>/reopen/",
        assignments.AssignmentReopenApi.as_view(),
        name="api_assignment_reopen",
    ),
    path("assignments/<id:pk>/mentions/", assignments.MentionCreateApi.as_view(), name="api_mentions"),
    path(
        "assignments/<id:pk>/mentions/<id:mention_id>/",
        assignments.MentionDetailApi.as_view(),
        name="api_mention",
    ),
    path(
        "assignments/<id:pk>/suggestions/accept/",
        assignments.SuggestionsAcceptApi.as_view(),
        name="api_suggestions_accept",
    ),
    path("assignments/<id:pk>/relations/", assignments.RelationCreateApi.as_view(), name="api_relations"),
    path(
        "assignments/<id:pk>/relations/<id:relation_id>/",
        assignments.RelationDeleteApi.as_view(),
        name="api_relation",
    ),
    # queue order
    path("queue/reorder/", queue.QueueReorderApi.as_view(), name="api_queue_reorder"),
    # entity values
    path("entity-values/", values.EntityValueListApi.as_view(), name="api_entity_values"),
    path("entity-values/preview/", values.EntityValuePreviewApi.as_view(), name="api_entity_value_preview"),
    path("entity-values/<id:pk>/", values.EntityValueDetailApi.as_view(), name="api_entity_value"),
    path("entity-values/<id:pk>/count/", values.EntityValueCountApi.as_view(), name="api_entity_value_count"),
    # agreement and adjudication
    path("agreement/", agreement.AgreementApi.as_view(), name="api_agreement"),
    path("adjudications/", agreement.AdjudicationApi.as_view(), name="api_adjudications"),
    path("adjudications/<id:report_id>/", agreement.AdjudicationDetailApi.as_view(), name="api_adjudication"),
    # labels a site already has (imported gold)
    path("label-imports/", labels.LabelImportApi.as_view(), name="api_label_imports"),
    path("label-imports/<id:pk>/", labels.LabelImportDetailApi.as_view(), name="api_label_import"),
    # weak labels
    path("weak-labels/runs/", weak_labels.WeakLabelRunApi.as_view(), name="api_weak_label_runs"),
    path(
        "weak-labels/evaluation/",
        weak_labels.WeakLabelEvaluationApi.as_view(),
        name="api_weak_label_evaluation",
    ),
    path(
        "reports/<id:pk>/weak-labels/",
        weak_labels.ReportWeakLabelsApi.as_view(),
        name="api_report_weak_labels",
    ),
    # read-only: reports, their gold mentions and pairs, the schema
    path("reports/", reports_api.ReportListApi.as_view(), name="api_reports"),
    path("reports/<id:pk>/", reports_api.ReportDetailApi.as_view(), name="api_report"),
    path(
        "reports/<id:pk>/mentions/", reports_api.ReportGoldMentionsApi.as_view(), name="api_report_mentions"
    ),
    path("reports/<id:pk>/pairs/", reports_api.ReportGoldPairsApi.as_view(), name="api_report_pairs"),
    path("modalities/", schema_api.ModalityListApi.as_view(), name="api_modalities"),
    path("modalities/<slug:code>/", schema_api.ModalityDetailApi.as_view(), name="api_modality"),
    path("entity-keys/", schema_api.EntityKeyListApi.as_view(), name="api_entity_keys"),
]

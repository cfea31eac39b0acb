"""/api/ routes of the annotations app (mounted in radreview/urls.py)."""

from django.urls import path

from annotations import apis

urlpatterns = [
    path("assignments/", apis.AssignmentListApi.as_view(), name="api_assignments"),
    path("assignments/<int:pk>/", apis.AssignmentDetailApi.as_view(), name="api_assignment"),
    path("assignments/<int:pk>/submit/", apis.AssignmentSubmitApi.as_view(), name="api_assignment_submit"),
    path("assignments/<int:pk>/reopen/", apis.AssignmentReopenApi.as_view(), name="api_assignment_reopen"),
    path("assignments/<int:pk>/mentions/", apis.MentionCreateApi.as_view(), name="api_mentions"),
    path(
        "assignments/<int:pk>/mentions/<int:mention_id>/", apis.MentionDetailApi.as_view(), name="api_mention"
    ),
    path("assignments/<int:pk>/relations/", apis.RelationCreateApi.as_view(), name="api_relations"),
    path(
        "assignments/<int:pk>/relations/<int:relation_id>/",
        apis.RelationDeleteApi.as_view(),
        name="api_relation",
    ),
    path("queue/reorder/", apis.QueueReorderApi.as_view(), name="api_queue_reorder"),
    path("entity-values/", apis.EntityValueListApi.as_view(), name="api_entity_values"),
    path("entity-values/preview/", apis.EntityValuePreviewApi.as_view(), name="api_entity_value_preview"),
    path("entity-values/<int:pk>/", apis.EntityValueDetailApi.as_view(), name="api_entity_value"),
    path("agreement/", apis.AgreementApi.as_view(), name="api_agreement"),
    path("adjudications/", apis.AdjudicationApi.as_view(), name="api_adjudications"),
    path("weak-labels/runs/", apis.WeakLabelRunApi.as_view(), name="api_weak_label_runs"),
    path("weak-labels/evaluation/", apis.WeakLabelEvaluationApi.as_view(), name="api_weak_label_evaluation"),
    path("reports/<int:pk>/weak-labels/", apis.ReportWeakLabelsApi.as_view(), name="api_report_weak_labels"),
]

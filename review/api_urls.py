"""REST endpoints of this app, mounted under /api/ by radreview.api_urls."""

from django.urls import path

from review.api import views

urlpatterns = [
    path("review/queue/", views.QueueApi.as_view(), name="api_review_queue"),
    path("review/reports/<id:report_id>/", views.ReviewApi.as_view(), name="api_review_report"),
    path("review/reports/<id:report_id>/findings/", views.AddApi.as_view(), name="api_review_add"),
    path("review/reports/<id:report_id>/bulk/", views.BulkApi.as_view(), name="api_review_bulk"),
    path("review/reports/<id:report_id>/history/", views.HistoryApi.as_view(), name="api_review_history"),
    path(
        "review/findings/<id:finding_id>/decision/", views.DecisionApi.as_view(), name="api_review_decision"
    ),
]

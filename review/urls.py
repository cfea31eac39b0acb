from django.urls import path

from review.views import queue, review

app_name = "review"
urlpatterns = [
    path("", queue.queue, name="queue"),
    path("<int:report_id>/", review.review, name="review"),
    path("<int:report_id>/findings/<int:finding_id>/decide", review.decide, name="decide"),
    path("<int:report_id>/findings/<int:finding_id>/provenance", review.provenance, name="provenance"),
    path("<int:report_id>/add", review.add, name="add"),
    path("<int:report_id>/grid", review.grid_toggle, name="grid_toggle"),
    path("<int:report_id>/confirm-none", review.confirm_none, name="confirm_none"),
    path("<int:report_id>/timeline", review.timeline, name="timeline"),
    path("<int:report_id>/history", review.history, name="history"),
]

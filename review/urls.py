from django.urls import path

from review.views import queue, review

app_name = "review"
urlpatterns = [
    path("", queue.queue, name="queue"),
    path("<id:report_id>/", review.review, name="review"),
    path("<id:report_id>/findings/<id:finding_id>/decide", review.decide, name="decide"),
    path("<id:report_id>/findings/<id:finding_id>/provenance", review.provenance, name="provenance"),
    path("<id:report_id>/findings/<id:finding_id>/undo", review.undo, name="undo"),
    path("<id:report_id>/bulk", review.bulk, name="bulk"),
    path("<id:report_id>/add", review.add, name="add"),
    path("<id:report_id>/add-form", review.add_form, name="add_form"),
    path("<id:report_id>/grid", review.grid_toggle, name="grid_toggle"),
    path("<id:report_id>/confirm-none", review.confirm_none, name="confirm_none"),
    path("<id:report_id>/timeline", review.timeline, name="timeline"),
    path("<id:report_id>/history", review.history, name="history"),
]

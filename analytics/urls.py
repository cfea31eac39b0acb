from django.urls import path

from analytics.views import evaluation, longitudinal, models
from analytics.views import export as export_views

app_name = "analytics"
urlpatterns = [
    path("", evaluation.evaluation_list, name="evaluation_list"),
    path("evaluations/start/", evaluation.evaluation_create, name="evaluation_create"),
    path("evaluations/<id:pk>/", evaluation.evaluation_detail, name="evaluation_detail"),
    path("models/<id:pk>/compare/", models.model_compare, name="model_compare"),
    path("longitudinal/", longitudinal.longitudinal, name="longitudinal"),
    path("export/", export_views.export_page, name="export"),
    path("export/download/", export_views.export_download, name="export_download"),
]

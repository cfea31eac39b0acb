"""REST endpoints of this app, mounted under /api/ by radreview.api_urls."""

from django.urls import path

from analytics.api import export as export_api

urlpatterns: list = [
    path("export/", export_api.ExportApi.as_view(), name="api_export"),
]

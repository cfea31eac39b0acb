from django.urls import path

from annotations.views import imports, reports

app_name = "annotations"
urlpatterns: list = [
    path("reports/", reports.report_list, name="report_list"),
    path("reports/<int:report_id>/", reports.report_detail, name="report_detail"),
]

urlpatterns += [
    path("import/", imports.import_upload, name="import_upload"),
    path("import/<int:job_id>/", imports.import_status, name="import_status"),
    path("import/<int:job_id>/cancel/", imports.import_cancel, name="import_cancel"),
]

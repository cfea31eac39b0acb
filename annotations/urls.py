from django.urls import path

from annotations.views import imports

app_name = "annotations"
urlpatterns: list = []

urlpatterns += [
    path("import/", imports.import_upload, name="import_upload"),
    path("import/<int:job_id>/", imports.import_status, name="import_status"),
    path("import/<int:job_id>/cancel/", imports.import_cancel, name="import_cancel"),
]

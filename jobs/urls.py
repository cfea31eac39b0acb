from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("<id:pk>/", views.job_detail, name="job_detail"),
    path("<id:pk>/progress/", views.job_progress, name="job_progress"),
    path("<id:pk>/cancel/", views.job_cancel, name="job_cancel"),
]

from django.contrib import admin
from django.http import HttpRequest

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Read-mostly: workers write jobs through jobs.services; the admin is for looking."""

    list_display = (
        "id",
        "kind",
        "title",
        "status",
        "progress_done",
        "progress_total",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status", "cancel_requested")
    search_fields = ("title", "celery_task_id")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "kind",
        "status",
        "params",
        "result",
        "error",
        "log",
        "progress_done",
        "progress_total",
        "progress_message",
        "cancel_requested",
        "celery_task_id",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are created by the screens that start the work

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import EvaluationRun


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    """Read-only: runs are written by the evaluation job; the dashboard shows them."""

    list_display = ("id", "modality", "gold_set", "report_count", "created_by", "created_at", "finished_at")
    list_filter = ("modality", "gold_set")
    list_select_related = ("modality", "created_by")
    readonly_fields = [f.name for f in EvaluationRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EvaluationRun | None = None) -> bool:
        return False

from typing import Any

from django.contrib import admin

from review.models import ReviewDecision, ReviewFinding, ReviewReport


@admin.register(ReviewReport)
class ReviewReportAdmin(admin.ModelAdmin):
    list_display = ("report", "status", "priority", "n_pending", "n_total", "verified_at")
    list_filter = ("status",)
    raw_id_fields = ("report", "model_version", "verified_by", "lease_user")


@admin.register(ReviewFinding)
class ReviewFindingAdmin(admin.ModelAdmin):
    list_display = ("report", "key", "kind", "status", "superseded", "decided_by")
    list_filter = ("status", "kind", "superseded")
    raw_id_fields = ("review", "report", "stage1_prediction", "stage2_prediction", "decided_by")


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """The audit trail: read-only, even for superusers."""

    list_display = ("created_at", "user", "action", "report", "finding", "reason_code")
    list_filter = ("action", "reason_code")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

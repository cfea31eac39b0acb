"""Django admin for the stage 1 registry: for looking. Promotion and roll-back go
through the models page (stage1_registry rules, a reason, the history), never
through editing is_active here."""

from django.contrib import admin
from django.http import HttpRequest

from inference.models import ModelPromotion, ModelVersion, Stage1Prediction


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "modality", "preset", "status", "is_active", "created_at", "trained_at")
    list_filter = ("modality", "status", "is_active", "preset")
    search_fields = ("name", "code_version")
    list_select_related = ("modality",)
    readonly_fields = [f.name for f in ModelVersion._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ModelPromotion)
class ModelPromotionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "modality", "action", "model_version", "previous", "user")
    list_filter = ("modality", "action")
    list_select_related = ("modality", "model_version", "previous", "user")
    readonly_fields = [f.name for f in ModelPromotion._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModelPromotion | None = None) -> bool:
        return False  # an append-only history


@admin.register(Stage1Prediction)
class Stage1PredictionAdmin(admin.ModelAdmin):
    list_display = ("report", "model_version", "truncated", "created_at")
    list_filter = ("model_version", "truncated")
    raw_id_fields = ("report",)
    list_select_related = ("report", "model_version")
    readonly_fields = [f.name for f in Stage1Prediction._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

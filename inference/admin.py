"""Django admin for the stage 1 registry: for looking. Promotion, roll-back and
retirement go through the models page (stage1_registry rules, a reason, the
history), never through editing here. Versions, their predictions and the
promotion history cannot be changed or deleted here by anyone, superusers
included (issue 16: a version is retired, never deleted)."""

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from inference.models import ModelPromotion, ModelVersion, Stage1Prediction


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "modality", "preset", "status", "is_active", "created_at", "trained_at")
    list_filter = ("modality", "status", "is_active", "preset")
    search_fields = ("name", "code_version")
    list_select_related = ("modality",)
    readonly_fields = [f.name for f in ModelVersion._meta.fields]


@admin.register(ModelPromotion)
class ModelPromotionAdmin(ReadOnlyAdmin):
    """An append-only history."""

    list_display = ("created_at", "modality", "action", "model_version", "previous", "user")
    list_filter = ("modality", "action")
    list_select_related = ("modality", "model_version", "previous", "user")
    readonly_fields = [f.name for f in ModelPromotion._meta.fields]


@admin.register(Stage1Prediction)
class Stage1PredictionAdmin(ReadOnlyAdmin):
    list_display = ("report", "model_version", "truncated", "created_at")
    list_filter = ("model_version", "truncated")
    raw_id_fields = ("report",)
    list_select_related = ("report", "model_version")
    readonly_fields = [f.name for f in Stage1Prediction._meta.fields]

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from annotations.models import (
    Assignment,
    EntityKey,
    EntityType,
    EntityValue,
    Mention,
    Modality,
    Relation,
    Report,
)
from annotations.services.values import entity_value_check, schema_version_bump


@admin.register(Modality)
class ModalityAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "schema_version")


class EntityKeyInline(admin.TabularInline):
    model = EntityKey
    fk_name = "entity_type"
    fields = ("name", "order", "pairs_with", "implicit_location", "parent", "is_active")
    extra = 0


@admin.register(EntityType)
class EntityTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "modality", "role", "order")
    list_filter = ("modality", "role")
    inlines = [EntityKeyInline]


class EntityValueInline(admin.TabularInline):
    model = EntityValue
    fields = ("text", "kind", "case_sensitive", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    extra = 0


@admin.register(EntityKey)
class EntityKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "entity_type", "pairs_with", "implicit_location", "parent", "is_active")
    list_filter = ("entity_type__modality", "entity_type")
    search_fields = ("name",)
    list_select_related = ("entity_type__modality", "pairs_with", "implicit_location", "parent")
    inlines = [EntityValueInline]


class EntityValueAdminForm(forms.ModelForm):
    """The value manager's validation (regex compiles, no near-duplicate) in the admin too."""

    class Meta:
        model = EntityValue
        fields = ("key", "text", "kind", "case_sensitive")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("key") and data.get("text") and data.get("kind"):
            data["text"] = entity_value_check(
                key=data["key"], text=data["text"], kind=data["kind"], exclude_id=self.instance.pk
            )
        return data


@admin.register(EntityValue)
class EntityValueAdmin(admin.ModelAdmin):
    form = EntityValueAdminForm
    list_display = ("text", "kind", "key", "created_by", "created_at")
    list_filter = ("kind", "key__entity_type__modality", "key__entity_type")
    search_fields = ("text", "key__name")
    list_select_related = ("key", "created_by")
    autocomplete_fields = ("key",)

    # Edits here must bump the schema version like the value manager does, or
    # cached suggestion matchers and weak labels would not see them.
    def save_model(self, request: HttpRequest, obj: EntityValue, form: forms.ModelForm, change: bool) -> None:
        if not change:
            # The admin site admits only logged-in staff, so the pk is a user's (the type
            # of request.user still allows the anonymous user).
            obj.created_by_id = request.user.pk
        super().save_model(request, obj, form, change)
        schema_version_bump(modality_id=obj.key.entity_type.modality_id)

    def delete_model(self, request: HttpRequest, obj: EntityValue) -> None:
        modality_id = obj.key.entity_type.modality_id
        super().delete_model(request, obj)
        schema_version_bump(modality_id=modality_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EntityValue]) -> None:
        modality_ids = set(queryset.values_list("key__entity_type__modality_id", flat=True))
        super().delete_queryset(request, queryset)
        for modality_id in modality_ids:
            schema_version_bump(modality_id=modality_id)


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    # Report text is PHI-bearing and long: shown on the change page only. It is
    # fixed at import (mentions are offsets into it): a correction is a new
    # revision, made on the report page (services.revisions), never an edit here.
    list_display = (
        "external_id",
        "source",
        "modality",
        "patient_id",
        "study_datetime",
        "superseded_at",
        "created_at",
    )
    list_filter = ("modality", "source")
    search_fields = ("external_id", "patient_id")
    date_hierarchy = "study_datetime"
    readonly_fields = (
        "text",
        "content_hash",
        "import_job",
        "revision_of",
        "revised_by",
        "revision_reason",
        "superseded_at",
        "created_at",
        "updated_at",
    )
    list_select_related = ("modality",)
    show_full_result_count = False  # COUNT(*) over 100k+ rows on every page is wasted work


class MentionInline(admin.TabularInline):
    model = Mention
    fields = ("key", "start", "end", "negated", "uncertain", "created_by")
    raw_id_fields = ("key",)
    readonly_fields = ("created_by",)
    extra = 0


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("report", "annotator", "kind", "status", "no_findings", "created_at", "submitted_at")
    list_filter = ("status", "kind", "report__modality")
    search_fields = ("report__external_id", "annotator__username")
    raw_id_fields = ("report",)
    list_select_related = ("report", "annotator")
    inlines = [MentionInline]


@admin.register(Mention)
class MentionAdmin(admin.ModelAdmin):
    list_display = ("report", "key", "start", "end", "negated", "uncertain", "created_by", "created_at")
    list_filter = ("negated", "uncertain", "key__entity_type__modality")
    raw_id_fields = ("report", "assignment", "key")
    list_select_related = ("report", "key", "created_by")
    show_full_result_count = False


@admin.register(Relation)
class RelationAdmin(admin.ModelAdmin):
    list_display = ("report", "source_key", "target_key", "source_mention", "target_mention", "created_by")
    raw_id_fields = ("report", "assignment", "source_mention", "target_mention", "source_key", "target_key")
    list_select_related = ("report", "source_key", "target_key", "source_mention", "target_mention")
    show_full_result_count = False

from django.contrib import admin

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


@admin.register(EntityValue)
class EntityValueAdmin(admin.ModelAdmin):
    list_display = ("text", "kind", "key", "created_by", "created_at")
    list_filter = ("kind", "key__entity_type__modality", "key__entity_type")
    search_fields = ("text", "key__name")
    list_select_related = ("key", "created_by")
    autocomplete_fields = ("key",)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    # Report text is PHI-bearing and long: shown on the change page only.
    list_display = ("external_id", "source", "modality", "patient_id", "study_datetime", "created_at")
    list_filter = ("modality", "source")
    search_fields = ("external_id", "patient_id")
    date_hierarchy = "study_datetime"
    readonly_fields = ("content_hash", "import_job", "created_at", "updated_at")
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

""""Consolidating" ("consolidating infiltrates", "a consolidating pneumonia") names
consolidation in databases migrated before the default schema had it. A frozen list,
as in 0008; a fresh database gets it from the current defaults, and the schema
version moves only when something changed."""

from django.db import migrations

VALUES_ADDED = [("chest_ct", "consolidation", "consolidating", "keyword")]


def bring_forward(apps, schema_editor):
    Modality = apps.get_model("annotations", "Modality")
    EntityKey = apps.get_model("annotations", "EntityKey")
    EntityValue = apps.get_model("annotations", "EntityValue")
    changed = 0
    for code, name, text, kind in VALUES_ADDED:
        key = EntityKey.objects.filter(entity_type__modality__code=code, name=name).first()
        if key is not None:
            changed += EntityValue.objects.get_or_create(key=key, text=text, kind=kind)[1]
    if changed:
        for modality in Modality.objects.filter(code__in={code for code, *_ in VALUES_ADDED}):
            modality.schema_version += 1
            modality.save(update_fields=["schema_version"])


class Migration(migrations.Migration):
    dependencies = [("annotations", "0009_brain_episode_words")]

    operations = [migrations.RunPython(bring_forward, migrations.RunPython.noop)]

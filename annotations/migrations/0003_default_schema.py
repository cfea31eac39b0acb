"""Install the default schema (docs/schema.md; inference/ml/defaults/default_schema.json)."""

from django.db import migrations


def load_default_schema(apps, schema_editor):
    from annotations.services.schema import schema_load, schema_models_from_apps, schema_read

    schema_load(data=schema_read(), models=schema_models_from_apps(apps))


class Migration(migrations.Migration):
    dependencies = [("annotations", "0002_roles")]

    operations = [migrations.RunPython(load_default_schema, migrations.RunPython.noop)]

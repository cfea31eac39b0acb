"""Model versions numbered per modality (issue 18): ModelVersion.number, 1, 2, 3 ... per
modality in creation order, unique per modality; promotions record an overridden
"worse than the active version" warning."""

from django.db import migrations, models


def number_per_modality(apps, schema_editor):
    """Number the existing versions per modality in creation order, and rename the
    ones still called by the old global scheme ("<code>-v<pk>") to "<code>-v<number>".
    Names chosen otherwise are kept; a new name already taken leaves the old one.
    The artefact directories are keyed by pk, so no file moves."""
    ModelVersion = apps.get_model("inference", "ModelVersion")
    counters: dict[int, int] = {}
    rows = ModelVersion.objects.select_related("modality").order_by("created_at", "pk")
    for version in rows:
        number = counters[version.modality_id] = counters.get(version.modality_id, 0) + 1
        fields: dict[str, object] = {"number": number}
        code = version.modality.code
        new_name = f"{code}-v{number}"
        old_scheme = version.name == f"{code}-v{version.pk}" and new_name != version.name
        if old_scheme and not ModelVersion.objects.filter(name=new_name).exclude(pk=version.pk).exists():
            fields["name"] = new_name
        ModelVersion.objects.filter(pk=version.pk).update(**fields)


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0006_stage2_rejected_findings"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="number",
            field=models.PositiveIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="modelpromotion",
            name="overrode_warning",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="modelpromotion",
            name="warning",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(number_per_modality, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="modelversion",
            constraint=models.UniqueConstraint(
                fields=("modality", "number"), name="model_version_number_per_modality"
            ),
        ),
    ]

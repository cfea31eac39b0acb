"""Stage 2 rows say why they were computed (pipeline or evaluation) and when a
pipeline write last stored them; the mode labels follow the mode registry.

Rows stored before this migration cannot be told apart, so they all become
pipeline rows (as every reader treated them until now), and their stored_at is
their created_at."""

import django.utils.timezone
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def stored_at_from_created_at(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    prediction = apps.get_model("inference", "Stage2Prediction")
    prediction.objects.update(stored_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0002_stage2_hint_timings_attempts"),
    ]

    operations = [
        migrations.AddField(
            model_name="stage2prediction",
            name="purpose",
            field=models.CharField(
                choices=[("pipeline", "Pipeline"), ("evaluation", "Evaluation")], default="pipeline", max_length=16
            ),
        ),
        migrations.AddField(
            model_name="stage2prediction",
            name="stored_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(stored_at_from_created_at, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="stage2prediction",
            name="mode",
            field=models.CharField(
                choices=[
                    ("llm", "LLM without hint"),
                    ("llm_hint", "LLM with BERT hint"),
                    ("rules", "Rule-based (same sentence)"),
                    ("combined", "Combined (rules + LLM)"),
                ],
                max_length=16,
            ),
        ),
    ]

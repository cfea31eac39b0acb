import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0003_queue_heartbeat"),
    ]

    operations = [
        migrations.CreateModel(
            name="JobChunk",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("index", models.PositiveIntegerField()),
                ("group", models.CharField(blank=True, max_length=64)),
                ("report_ids", models.JSONField(default=list)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("worker", models.CharField(blank=True, max_length=255)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("done", models.PositiveIntegerField(default=0)),
                ("counts", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="chunks", to="jobs.job"
                    ),
                ),
            ],
            options={
                "ordering": ["job", "index"],
                "indexes": [models.Index(fields=["job", "state"], name="job_chunk_state")],
                "constraints": [
                    models.UniqueConstraint(fields=("job", "index"), name="job_chunk_unique_index")
                ],
            },
        ),
    ]

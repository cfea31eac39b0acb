"""Build or refresh review findings from the stored predictions.

    python manage.py review_sync                 # every report with a prediction
    python manage.py review_sync --modality brain_mri
    python manage.py review_sync --report 12 --report 13

Idempotent (review.services.sync_report_findings): safe to run after every
inference run or as a backfill; decided findings are never changed.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Exists, OuterRef, Q

from annotations.models import Modality, Report
from inference.models import Stage1Prediction, Stage2Prediction
from review.services import sync_reports


class Command(BaseCommand):
    help = "Build or refresh clinician review findings from stored stage 1 / stage 2 predictions."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--modality", default="", help="modality code, e.g. chest_ct")
        parser.add_argument("--report", type=int, action="append", default=[], help="report id (repeatable)")

    def handle(self, *args: Any, modality: str, report: list[int], **options: Any) -> None:
        rows = Report.objects.filter(
            Q(Exists(Stage1Prediction.objects.filter(report=OuterRef("pk"))))
            | Q(Exists(Stage2Prediction.objects.filter(report=OuterRef("pk"))))
        )
        if modality:
            if not Modality.objects.filter(code=modality).exists():
                raise CommandError(f"Unknown modality “{modality}”.")
            rows = rows.filter(modality__code=modality)
        if report:
            rows = rows.filter(pk__in=report)
        done = sync_reports(rows.order_by("pk").values_list("pk", flat=True).iterator())
        self.stdout.write(f"synced: {done}")

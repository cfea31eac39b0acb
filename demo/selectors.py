"""The demo's reads: who the demo admin is, the latest pipeline, and which reports
the pipeline's stage 2 step covers."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from annotations.models import Report
from annotations.selectors import gold_assignment_ids
from demo.services.setup import DEMO_ADMIN
from inference.services.stage1 import heldout_report_ids
from jobs.models import Job

PIPELINE_FLAG = "demo_pipeline"  # params[PIPELINE_FLAG] is True on the orchestrating job


def demo_admin() -> User | None:
    """The demo admin (demo_setup's "admin"), else the first superuser, else None."""
    users = get_user_model().objects
    return users.filter(username=DEMO_ADMIN).first() or users.filter(is_superuser=True).order_by("pk").first()


def demo_pipeline_current() -> Job | None:
    """The latest pipeline job, whatever its status."""
    return Job.objects.filter(**{f"params__{PIPELINE_FLAG}": True}).order_by("-created_at", "-pk").first()


def stage2_report_ids(*, modality_code: str, count: int) -> list[int]:
    """`count` reports of the modality for stage 2, never from the held-out set (the
    evaluation scores those): reports without gold first (fresh for clinicians),
    then gold ones, oldest ids first so the choice is the same on every run."""
    heldout = set(heldout_report_ids(modality_code))
    reports = Report.objects.filter(modality__code=modality_code).order_by("pk")
    ids = list(reports.values_list("pk", flat=True))
    ids = [pk for pk in ids if pk not in heldout]
    gold = set(gold_assignment_ids(report_ids=ids))
    return ([pk for pk in ids if pk not in gold] + [pk for pk in ids if pk in gold])[:count]

"""Stored evaluation runs: the dashboard reads these, never recomputes them per view."""

from django.conf import settings
from django.db import models


class EvaluationRun(models.Model):
    """One evaluation of the methods (BERT, LLM with and without hint, rule-based)
    over a chosen gold set; filled by the evaluation job (analytics.tasks)."""

    class GoldSet(models.TextChoices):
        HELDOUT = "heldout", "Held-out gold set (never used for training)"
        ALL_GOLD = "all_gold", "Every report with gold labels"
        FILE = "file", "An uploaded gold file (JSONL)"

    modality = models.ForeignKey("annotations.Modality", on_delete=models.PROTECT, related_name="+")
    gold_set = models.CharField(max_length=16, choices=GoldSet.choices, default=GoldSet.HELDOUT)
    modes = models.JSONField(default=list)  # e.g. ["bert", "llm", "llm_hint", "rules"]
    # {"gold_file": {"path", "name"}} for an uploaded gold set; {"options": {...}} for evaluate_modes.
    params = models.JSONField(default=dict, blank=True)
    report_count = models.PositiveIntegerField(default=0)
    # See analytics.evaluation for both shapes.
    results = models.JSONField(default=dict, blank=True)
    comparisons = models.JSONField(default=dict, blank=True)
    job = models.OneToOneField(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluation_run"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Evaluation #{self.pk} ({self.modality_id}, {self.gold_set})"

    @property
    def has_results(self) -> bool:
        return bool(self.results.get("modes"))

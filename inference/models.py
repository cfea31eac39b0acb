"""The model registry and stored predictions of stage 1 (BERT) and stage 2 (LLM).

Predictions are keyed so that re-running a job never duplicates them: stage 1
by (report, model version), stage 2 by (report, run key) where the run key names
the mode, LLM, prompt version and the stage 1 version used as hint. Which stage 2
prediction stands for a report is one rule, in inference.selectors.
"""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from radreview.records import AppendOnlyModel

NUMBER_ATTEMPTS = 5  # inserts racing for a modality's next version number


class ModelVersion(models.Model):
    """One training run of the stage 1 entity-key classifier and its artefact."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        # Out of service for good (services.stage1_registry.model_version_retire): never
        # active again, its predictions kept. A version with predictions is retired,
        # never deleted (Stage1Prediction.model_version is PROTECT).
        RETIRED = "retired", "Retired"

    modality = models.ForeignKey(
        "annotations.Modality", on_delete=models.PROTECT, related_name="model_versions"
    )
    name = models.CharField(max_length=200, unique=True)
    # 1, 2, 3 ... per modality in creation order (chest_ct-v1, brain_mri-v1, chest_ct-v2):
    # assigned on the first save (number_assign), unique per modality.
    number = models.PositiveIntegerField(null=True, blank=True, editable=False)
    preset = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    is_active = models.BooleanField(default=False)
    keys = models.JSONField(default=list, help_text="key names in label order")
    config = models.JSONField(default=dict, blank=True)
    code_version = models.CharField(max_length=64, blank=True)
    schema_version = models.PositiveIntegerField(default=1)
    label_sources = models.JSONField(default=list, blank=True)  # e.g. ["gold", "weak:keyword_negation"]
    data_counts = models.JSONField(default=dict, blank=True)  # {"gold": n, "weak": n, "approved": n, ...}
    # The exact training data (report ids and label sources) is a file in the
    # artefact directory; its checksum makes the snapshot tamper-evident.
    data_snapshot_path = models.CharField(max_length=500, blank=True)
    data_snapshot_sha256 = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(default=dict, blank=True)
    curves = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=500, blank=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    trained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["modality"], condition=Q(is_active=True), name="one_active_model_per_modality"
            ),
            models.UniqueConstraint(fields=["modality", "number"], name="model_version_number_per_modality"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and self.number is None:
            self._save_numbered(*args, **kwargs)
        else:
            super().save(*args, **kwargs)

    def numbered_name(self) -> str:
        """The display name from the per-modality number: "chest_ct-v2". Should a
        version kept from before the numbering already hold it (the migration keeps
        names it cannot rename), the pk makes it unique: "chest_ct-v2.17"."""
        name = f"{self.modality.code}-v{self.number}"
        if ModelVersion.objects.filter(name=name).exclude(pk=self.pk).exists():
            return f"{name}.{self.pk}"
        return name

    def _save_numbered(self, *args: Any, **kwargs: Any) -> None:
        """Insert with the next number of the modality. Race-safe: on PostgreSQL the
        modality row is locked for the read and the insert; anywhere, two inserts
        that read the same maximum collide on the (modality, number) constraint and
        the loser retries with the next number (in a savepoint, so the caller's
        transaction stays usable). Any other integrity error is raised as it is."""
        from annotations.models import Modality

        for _attempt in range(NUMBER_ATTEMPTS):
            tried = None
            try:
                with transaction.atomic():
                    if connection.vendor == "postgresql":
                        Modality.objects.select_for_update().filter(pk=self.modality_id).first()
                    top = ModelVersion.objects.filter(modality_id=self.modality_id).aggregate(
                        top=models.Max("number")
                    )["top"]
                    self.number = tried = (top or 0) + 1
                    super().save(*args, **kwargs)
                return
            except IntegrityError:
                self.number, self.pk = None, None
                if not ModelVersion.objects.filter(modality_id=self.modality_id, number=tried).exists():
                    raise  # not the number: another constraint refused the row
        raise IntegrityError(f"could not number a new model version in {NUMBER_ATTEMPTS} attempts")


class ModelPromotion(AppendOnlyModel):
    """Append-only history of which version was made active or retired, by whom
    and why (radreview.records: rows are never changed or deleted)."""

    class Action(models.TextChoices):
        PROMOTE = "promote", "Promote"
        ROLLBACK = "rollback", "Roll back"
        RETIRE = "retire", "Retire"

    modality = models.ForeignKey("annotations.Modality", on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotions")
    previous = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Promoted although worse than the active version on held-out gold, after the
    # confirmation step; `warning` keeps the comparison the admin confirmed
    # (services.stage1_registry.PromotionWarning.as_dict).
    overrode_warning = models.BooleanField(default=False)
    warning = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.model_version}"


class Stage1Prediction(models.Model):
    report = models.ForeignKey(
        "annotations.Report", on_delete=models.CASCADE, related_name="stage1_predictions"
    )
    # PROTECT: a version that predicted is retired, never deleted with its predictions.
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    probabilities = models.JSONField()  # {key name: probability}
    predicted_keys = models.JSONField()  # key names at or above their threshold
    truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "model_version"], name="stage1_prediction_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.report} by {self.model_version}"


class Stage2Prediction(models.Model):
    """One relationship-mapping result for one report, with everything that
    produced it (exact prompt, raw output) for the reviewer's provenance view."""

    # The database's list of the stage 2 mode registry (inference.services.stage2_modes):
    # names and labels must agree with it (a test pins that).
    class Mode(models.TextChoices):
        LLM = "llm", "LLM without hint"
        LLM_HINT = "llm_hint", "LLM with BERT hint"
        RULES = "rules", "Rule-based (same sentence)"
        COMBINED = "combined", "Combined (rules + LLM)"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        FAILED = "failed", "Output failed validation"

    class Purpose(models.TextChoices):
        """Why the row was computed. Only pipeline rows may stand for a report: an
        evaluation run stores its predictions too, and must not replace the pipeline's."""

        PIPELINE = "pipeline", "Pipeline"
        EVALUATION = "evaluation", "Evaluation"

    report = models.ForeignKey(
        "annotations.Report", on_delete=models.CASCADE, related_name="stage2_predictions"
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    run_key = models.CharField(max_length=300)  # mode|llm|prompt version|stage 1 version
    llm_name = models.CharField(max_length=200, blank=True)
    llm_info = models.JSONField(default=dict, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    stage1_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    messages = models.JSONField(default=list, blank=True)
    raw_output = models.TextField(blank=True)
    parsed = models.JSONField(null=True, blank=True)
    findings = models.JSONField(default=list, blank=True)
    # Findings the model returned that were dropped before review (mapping.MappingResult.rejected).
    rejected = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Stage 1's keys shown as the "### Target ...:" line; null: the LLM ran without one.
    hint = models.JSONField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)  # {"total": s, "steps": {template: s}}
    attempts = models.PositiveSmallIntegerField(default=1)  # tries, counting retries on an unreachable server
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.PIPELINE)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a pipeline write last stored this row (a rerun of the same run key moves it;
    # an evaluation recomputing the row does not): "the most recent" prediction of a report.
    stored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "run_key"], name="stage2_prediction_unique"),
        ]
        indexes = [models.Index(fields=["mode", "status"], name="stage2_mode_status")]

    def __str__(self) -> str:
        return f"{self.report} {self.run_key}"


class LLMQuestionType(models.Model):
    """Whether the combined mode asks the LLM one type of question
    (inference/ml/questions.py), and what asking it was last measured to be worth.

    A type with no row is asked as the shipped default says (questions.DEFAULT_ASKED).
    A measurement on the site's verified data (an evaluation run of the combined mode
    on its held-out or gold set, or `evaluate --record-question-help`) sets `asked`
    to whether the type changed more findings right than wrong, unless an admin
    chose: an admin's choice stands until the admin hands it back to measurement."""

    class SetBy(models.TextChoices):
        DEFAULT = "default", "Shipped default"
        MEASUREMENT = "measurement", "Measured on verified data"
        ADMIN = "admin", "Chosen by an admin"

    code = models.CharField(max_length=32, unique=True)
    asked = models.BooleanField(default=False)
    set_by = models.CharField(max_length=16, choices=SetBy.choices, default=SetBy.DEFAULT)
    # {"asked", "answered", "changed", "right", "wrong", "helps", "gold", "reports"}
    measured = models.JSONField(default=dict, blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({'asked' if self.asked else 'not asked'})"

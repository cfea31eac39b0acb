"""Clinician review of AI findings.

One ReviewReport per report is the unit a clinician verifies. Its ReviewFinding
rows are snapshots of what the models said (stage 2 findings, and stage 1 keys
that stage 2 did not confirm), each with the ids of the predictions it came
from; a clinician's decision changes a finding's status and current values,
and every decision is also written as an append-only ReviewDecision.

Invariants:
* a decided finding (approved / rejected / edited / added) is never changed by
  a later inference run; new predictions become new pending findings
  (services.sync_report_findings);
* ReviewDecision rows are only ever inserted: the model refuses to change or
  delete one (radreview.records), and the admin is read-only;
* `ReviewFinding.version` is bumped by every decision: a decision names the
  version it was made on, so two clinicians never overwrite each other.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from radreview.records import AppendOnlyModel

OPEN = ("pending", "in_progress")  # the queue's default filter (same order everywhere: index predicate)


class ReviewReport(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        VERIFIED = "verified", "Verified"
        NO_FINDINGS = "no_findings", "No AI findings"
        SUPERSEDED = "superseded", "Superseded by a corrected revision"

    report = models.OneToOneField("annotations.Report", on_delete=models.CASCADE, related_name="review")
    # Copies of the report's queue filters, so that the queue (100k rows) filters,
    # sorts and counts on this table's indexes without joining reports.
    modality = models.ForeignKey(
        "annotations.Modality", null=True, on_delete=models.PROTECT, related_name="+"
    )
    patient_id = models.CharField(max_length=100, blank=True)
    study_datetime = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Higher first: the models are least sure or disagree (services._priority).
    priority = models.FloatField(default=0.0)
    # Why the priority is what it is, for the queue: near_threshold, disagreement,
    # unmatched, llm_failed (booleans) and the smallest stage 1 margin.
    signals = models.JSONField(default=dict, blank=True)
    n_pending = models.PositiveIntegerField(default=0)
    n_total = models.PositiveIntegerField(default=0)
    # Versions of the latest predictions the findings were synced from (queue filter).
    model_version = models.ForeignKey(
        "inference.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt_version = models.CharField(max_length=64, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)  # last time it became verified
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Advisory lease: who has the report open, so a second clinician is told at once.
    lease_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The default queue ("open": not started or in progress) in priority order,
            # overall and per modality: partial indexes whose predicate is the queue's own
            # filter, so PostgreSQL reads the first 51 rows in order and stops.
            models.Index(fields=["-priority", "id"], condition=Q(status__in=OPEN), name="review_queue_open"),
            models.Index(
                fields=["modality", "-priority", "id"],
                condition=Q(status__in=OPEN),
                name="review_queue_open_modality",
            ),
            # The open queue sorted by study date, newest or oldest first (ORDER BY
            # study_datetime, id): without these PostgreSQL sorts every open row.
            models.Index(
                fields=["-study_datetime", "id"],
                condition=Q(status__in=OPEN),
                name="review_queue_open_newest",
            ),
            models.Index(
                fields=["study_datetime", "id"], condition=Q(status__in=OPEN), name="review_queue_open_oldest"
            ),
            models.Index(fields=["status", "-priority", "id"], name="review_queue_status_priority"),
            models.Index(fields=["status", "study_datetime"], name="review_queue_status_date"),
            models.Index(fields=["patient_id", "study_datetime"], name="review_queue_patient"),
        ]

    def __str__(self) -> str:
        return f"review of report {self.report_id} ({self.status})"

    @property
    def lease_active(self) -> bool:
        return bool(self.lease_user_id and self.lease_until and self.lease_until > timezone.now())


class ReviewFinding(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EDITED = "edited", "Edited"
        ADDED = "added", "Added"

    class Kind(models.TextChoices):
        LESION = "lesion", "Lesion"
        DIAGNOSIS = "diagnosis", "Diagnosis"
        NON_TUMOR = "non_tumor", "Non-tumor detail"

    review = models.ForeignKey(ReviewReport, on_delete=models.CASCADE, related_name="findings")
    report = models.ForeignKey("annotations.Report", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Current values (the AI's until a clinician edits them).
    key = models.CharField(max_length=100)
    locations = models.JSONField(default=list, blank=True)
    episode = models.CharField(max_length=50, blank=True)
    details = models.JSONField(default=list, blank=True)
    evidence = models.TextField(blank=True)
    evidence_start = models.PositiveIntegerField(null=True, blank=True)
    evidence_end = models.PositiveIntegerField(null=True, blank=True)
    # The AI finding exactly as predicted (null for a finding a clinician added).
    ai = models.JSONField(null=True, blank=True)
    # Hash of the AI content (key, status, locations, episode, details): sync is idempotent on it.
    fingerprint = models.CharField(max_length=64, blank=True)
    flags = models.JSONField(default=list, blank=True)
    stage1_probability = models.FloatField(null=True, blank=True)
    stage1_threshold = models.FloatField(null=True, blank=True)
    stage1_prediction = models.ForeignKey(
        "inference.Stage1Prediction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage2_prediction = models.ForeignKey(
        "inference.Stage2Prediction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version_name = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    # A pending suggestion that a later prediction replaced; hidden, kept for history.
    superseded = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    reason_code = models.CharField(max_length=32, blank=True)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "key", "id"]
        indexes = [
            models.Index(fields=["review", "superseded"], name="reviewfinding_review"),
            # The queue's "finding type" filter: an index-only semi-join on live findings.
            models.Index(
                fields=["key", "review"], condition=Q(superseded=False), name="reviewfinding_key_live"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(evidence_start__isnull=True) | Q(evidence_start__lt=models.F("evidence_end")),
                name="reviewfinding_evidence_span",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"

    @property
    def is_decided(self) -> bool:
        return self.status != self.Status.PENDING


class ReviewDecision(AppendOnlyModel):
    """Append-only audit row: one clinician's decision on one finding."""

    class Action(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"
        EDIT = "edit", "Edited"
        ADD = "add", "Added"
        CONFIRM_NONE = "confirm_none", "Confirmed no findings"
        UNDO = "undo", "Undone"

    class Reason(models.TextChoices):
        # The order is the number key of each reason on the review screen (1 to 7):
        # the same for both modalities, so the keys stay in the fingers; "other",
        # the one that needs a comment, last.
        HALLUCINATED = "hallucinated", "Hallucinated (not in the report)"
        MISSED_NEGATION = "missed_negation", "Missed negation"
        WRONG_LOCATION = "wrong_location", "Wrong laterality / location"
        WRONG_KEY = "wrong_key", "Wrong key (another finding)"
        WRONG_EVIDENCE = "wrong_evidence", "Wrong evidence quote"
        WRONG_EPISODE = "wrong_episode", "Wrong episode"
        OTHER = "other", "Other (comment)"

    review = models.ForeignKey(ReviewReport, on_delete=models.PROTECT, related_name="decisions")
    # Null for a report-level decision ("no findings": the LLM failed and there is nothing to decide).
    finding = models.ForeignKey(
        ReviewFinding, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    report = models.ForeignKey("annotations.Report", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason_code = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    comment = models.TextField(blank=True)
    finding_version = models.PositiveIntegerField(default=0)  # the version the decision was made on
    model_version_name = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=64, blank=True)
    stage1_prediction_id_at = models.PositiveBigIntegerField(null=True, blank=True)
    stage2_prediction_id_at = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["review", "created_at"], name="reviewdecision_review")]

    def __str__(self) -> str:
        return f"{self.action} {self.finding_id} by {self.user_id}"

"""One row per background job (import, weak labelling, training, inference,
evaluation): its parameters, progress, outcome and a short log.

The row, not the Celery result backend, is the source of truth for the UI:
tasks update it as they go, and check `cancel_requested` between batches.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Job(models.Model):
    class Kind(models.TextChoices):
        IMPORT = "import", "Report import"
        WEAK_LABEL = "weak_label", "Weak labelling"
        TRAIN = "train", "Training"
        INFER = "infer", "Inference"
        EVALUATE = "evaluate", "Evaluation"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    title = models.CharField(max_length=200)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=300, blank=True)
    cancel_requested = models.BooleanField(default=False)
    celery_task_id = models.CharField(max_length=255, blank=True)
    # The Celery queue it was sent to (jobs.queues): interactive work never waits behind heavy.
    queue = models.CharField(max_length=32, blank=True)
    # Written every few seconds by the worker running it (jobs.services.job_run): a
    # running job whose heartbeat stopped lost its worker and is re-sent.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The registered Celery task name, so a job whose message was lost can be re-sent.
    task_name = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "status"], name="job_kind_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_total__isnull=True) | Q(progress_done__lte=models.F("progress_total")),
                name="job_progress_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))


class JobChunk(models.Model):
    """One slice of a cohort job (jobs.chunks): the report ids it covers, fixed when the
    job started (a snapshot, so a resumed job covers the same reports), and who runs it.

    Any worker of the job's queue claims a pending chunk, runs it and marks it done in
    the same transaction as its writes; a chunk whose worker stopped beating goes back
    to pending and is redone by another, never twice (`attempts` is the claim's token).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    # What the chunk belongs to inside its job (a modality code, a model version id).
    group = models.CharField(max_length=64, blank=True)
    report_ids = models.JSONField(default=list)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)  # reports finished, for the job's progress
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="job_chunk_unique_index")]
        indexes = [models.Index(fields=["job", "state"], name="job_chunk_state")]

    def __str__(self) -> str:
        return f"chunk {self.index} of job {self.job_id} ({self.state})"

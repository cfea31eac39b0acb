"""The annotation domain: schema (modalities, entity types, keys, values),
reports, and annotators' work on them (assignments, mentions, pairs).

Invariants live in database constraints; business rules live in services.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from radreview.records import AppendOnlyError

# What a report says, fixed at import: mentions are offsets into `text`.
REPORT_CONTENT = frozenset({"text", "content_hash"})
TEXT_FIXED = "A report's text cannot be changed: store a corrected revision (services.revisions)."


class Modality(models.Model):
    """An imaging modality with its own schema (chest CT, brain MRI)."""

    code = models.SlugField(max_length=32, unique=True)  # "chest_ct", used in files and the API
    name = models.CharField(max_length=100)
    # Bumped by schema services whenever a key or value changes, so that weak
    # labels and models can record which schema produced them.
    schema_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "modalities"

    def __str__(self) -> str:
        return self.name


class EntityType(models.Model):
    """A category to extract, e.g. Lesion or Location for chest CT."""

    class Role(models.TextChoices):
        FINDING = "finding", "Finding (lesion / diagnosis)"
        LOCATION = "location", "Location"
        EPISODE = "episode", "Episode"
        DETAIL = "detail", "Detail of another finding"

    modality = models.ForeignKey(Modality, on_delete=models.CASCADE, related_name="entity_types")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["modality", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["modality", "name"], name="entitytype_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.modality.code}: {self.name}"


class EntityKey(models.Model):
    """One item of an entity type, e.g. "nodule" (Lesion) or "right upper lobe" (Location)."""

    entity_type = models.ForeignKey(EntityType, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    # The type this key is paired with (Lesion -> Location, malignant Diagnosis -> Episode);
    # null when the key takes no pairs (pleural effusion, non-malignant tumor).
    pairs_with = models.ForeignKey(
        EntityType, null=True, blank=True, on_delete=models.SET_NULL, related_name="paired_keys"
    )
    # Location implied by the key itself (pleural effusion -> pleura): never asked for.
    implicit_location = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="implied_by"
    )
    # Detail keys hang under a parent finding (stroke/infarction under "other non-tumor").
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="details"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["entity_type", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["entity_type", "name"], name="entitykey_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class EntityValue(models.Model):
    """A keyword or regular expression that expresses a key ("GGO", "간유리음영")."""

    class Kind(models.TextChoices):
        KEYWORD = "keyword", "Keyword"
        REGEX = "regex", "Regular expression"

    key = models.ForeignKey(EntityKey, on_delete=models.CASCADE, related_name="values")
    text = models.CharField(max_length=300)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.KEYWORD)
    case_sensitive = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Reports of the modality this value matches on its own; refreshed by the
    # entity-value manager and by every weak-labelling run (null: not counted yet).
    report_count = models.PositiveIntegerField(null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key", "text"]
        constraints = [
            models.UniqueConstraint(fields=["key", "text", "kind"], name="entityvalue_unique_text"),
            models.CheckConstraint(condition=~Q(text=""), name="entityvalue_text_not_empty"),
        ]

    def __str__(self) -> str:
        return self.text


_R = TypeVar("_R", bound="Report")


class ReportQuerySet(models.QuerySet[_R]):
    def current(self) -> Self:
        """The latest revision of each report (superseded ones left out)."""
        return self.filter(superseded_at__isnull=True)

    def update(self, **kwargs: Any) -> int:
        if REPORT_CONTENT & kwargs.keys():
            raise AppendOnlyError(TEXT_FIXED)
        return super().update(**kwargs)

    def bulk_update(self, objs: Iterable[_R], fields: Iterable[str], batch_size: int | None = None) -> int:
        # Refused before bulk_update's own transaction, which would break the caller's.
        fields = list(fields)
        if REPORT_CONTENT & set(fields):
            raise AppendOnlyError(TEXT_FIXED)
        return super().bulk_update(objs, fields, batch_size=batch_size)


class Report(models.Model):
    """One radiology report. `text` is the original, byte-exact; models see a
    normalized copy computed on the fly (inference.ml.preprocess).

    The text never changes after import (save() and the queryset refuse): a
    corrected report is a new row, its `revision_of` the old one, which is kept
    with its mentions and marked `superseded_at` (services.revisions.report_revise).
    Only one revision per (source, external id) is current."""

    source = models.CharField(max_length=100)  # the system or file it came from
    external_id = models.CharField(max_length=200)
    patient_id = models.CharField(max_length=100, db_index=True)
    study_datetime = models.DateTimeField(null=True, blank=True)
    modality = models.ForeignKey(Modality, on_delete=models.PROTECT, related_name="reports")
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField()
    content_hash = models.CharField(max_length=64, db_index=True)  # sha256 of text (UTF-8)
    import_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Revisions: the report this one corrects, who corrected it and why; the old
    # one's superseded_at says when it stopped being current.
    revision_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_revision"
    )
    revised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revision_reason = models.TextField(blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReportQuerySet["Report"].as_manager()

    class Meta:
        ordering = ["-study_datetime", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(superseded_at__isnull=True),
                name="report_unique_external_id",
            ),
            models.CheckConstraint(condition=~Q(text=""), name="report_text_not_empty"),
        ]
        indexes = [
            models.Index(fields=["modality", "study_datetime"], name="report_modality_date"),
            models.Index(fields=["patient_id", "study_datetime"], name="report_patient_date"),
        ]
        permissions = [
            ("annotate_report", "Can annotate assigned reports"),
            ("review_findings", "Can verify AI findings"),
            ("import_reports", "Can import reports"),
            ("manage_schema", "Can change entity types, keys and values"),
            ("run_jobs", "Can start training, inference and weak-labelling runs"),
            ("promote_model", "Can promote and roll back model versions"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Refuses a changed text or hash of a stored report (one extra query when
        those fields are written)."""
        fields = kwargs.get("update_fields")
        if not self._state.adding and (fields is None or REPORT_CONTENT & set(fields)):
            stored = Report.objects.filter(pk=self.pk).values_list("text", "content_hash").first()
            if stored is not None and stored != (self.text, self.content_hash):
                raise AppendOnlyError(TEXT_FIXED)
        super().save(*args, **kwargs)

    @property
    def is_superseded(self) -> bool:
        return self.superseded_at is not None


class Assignment(models.Model):
    """One annotator's version of one report. Double annotation is two of them;
    an admin's adjudication is a third, of kind ADJUDICATION, which becomes gold."""

    class Status(models.TextChoices):
        TODO = "todo", "To do"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"

    class Kind(models.TextChoices):
        ANNOTATION = "annotation", "Annotation"
        ADJUDICATION = "adjudication", "Adjudication"
        IMPORTED = "imported", "Imported gold"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ANNOTATION)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TODO)
    no_findings = models.BooleanField(default=False)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Position in the annotator's queue, lowest first: set from the queue order an
    # admin chose (random, by date, most uncertain first; services/queue_order.py).
    rank = models.FloatField(default=0.0)
    # Imported gold: where its labels came from (the label import's label source, e.g.
    # "hospital-a registry 2024") and the import job that stored them; blank otherwise.
    label_source = models.CharField(max_length=200, blank=True)
    import_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["status", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "annotator", "kind"], name="assignment_unique_per_annotator"
            ),
        ]
        indexes = [models.Index(fields=["annotator", "status"], name="assignment_queue")]
        permissions = [
            ("assign_reports", "Can assign reports to annotators and order their queues"),
            ("adjudicate_assignment", "Can adjudicate double annotations into gold"),
        ]

    def __str__(self) -> str:
        return f"{self.report} → {self.annotator} ({self.status})"


class Mention(models.Model):
    """A span of a report's original text labelled with a key.

    Offsets are Unicode code points into Report.text ([start, end), Python
    string indexing), never bytes or UTF-16 units.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="mentions")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="mentions")
    key = models.ForeignKey(EntityKey, on_delete=models.PROTECT, related_name="mentions")
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    negated = models.BooleanField(default=False)
    uncertain = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start", "end"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=F("end")), name="mention_start_before_end"),
            models.UniqueConstraint(fields=["assignment", "key", "start", "end"], name="mention_unique_span"),
        ]

    def __str__(self) -> str:
        return f"{self.key} [{self.start}:{self.end}]"


class GoldKeyLabel(models.Model):
    """A report-level key status of a gold version, without a span: labels brought
    from elsewhere (a gold file's "gold" summary, a 0/1 CSV) say that a key is
    present, uncertain or negated, not where. selectors.key_statuses reads them
    with the version's mentions (the strongest status wins)."""

    class Status(models.TextChoices):
        PRESENT = "present", "Present"
        UNCERTAIN = "uncertain", "Uncertain"
        NEGATED = "negated", "Negated"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="key_labels")
    key = models.ForeignKey(EntityKey, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "key"], name="goldkeylabel_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.status}"


class Relation(models.Model):
    """A pair: a finding (lesion / diagnosis) and what it is paired with
    (location / episode). Keys are always set; the mentions are the evidence
    when the annotator marked spans, and may be absent for key-level pairs."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="relations")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="relations")
    source_key = models.ForeignKey(EntityKey, on_delete=models.PROTECT, related_name="+")
    target_key = models.ForeignKey(EntityKey, on_delete=models.PROTECT, related_name="+")
    source_mention = models.ForeignKey(
        Mention, null=True, blank=True, on_delete=models.CASCADE, related_name="outgoing"
    )
    target_mention = models.ForeignKey(
        Mention, null=True, blank=True, on_delete=models.CASCADE, related_name="incoming"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(source_key=F("target_key")), name="relation_not_self"),
            models.UniqueConstraint(
                fields=["assignment", "source_key", "target_key"],
                condition=Q(source_mention__isnull=True),
                name="relation_unique_key_pair",
            ),
            models.UniqueConstraint(
                fields=["assignment", "source_mention", "target_key"],
                condition=Q(source_mention__isnull=False),
                name="relation_unique_mention_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_key} → {self.target_key}"


class WeakLabelSet(models.Model):
    """One report's weak labels under one mode and schema version: the row says the
    report was labelled (a key without a WeakLabel row is absent), its labels hang
    off it. Re-running a mode on the same schema version replaces the set.

    Modes: "keyword" is the method's (any entity value matches, negated or not);
    "keyword_negation" also decides each match's assertion with ConText-style
    rules (inference/ml/text/assertion.py); "rule_engine" stores the rule engine's
    report-level verdicts (inference/ml/engine: assertions bounded by sentences and
    clauses, historical read as negated, findings outside the lungs set aside), with
    the rules' version it ran with."""

    class Mode(models.TextChoices):
        KEYWORD = "keyword", "Keyword (the method)"
        KEYWORD_NEGATION = "keyword_negation", "Keyword + negation"
        RULE_ENGINE = "rule_engine", "Rule engine"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="weak_label_sets")
    mode = models.CharField(max_length=16, choices=Mode.choices)
    schema_version = models.PositiveIntegerField()
    # The rule engine's RuleSet.version ("rule_engine" mode; blank for the keyword modes).
    rules_version = models.CharField(max_length=32, blank=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["report", "mode", "schema_version"], name="weaklabelset_unique_per_version"
            ),
        ]
        indexes = [models.Index(fields=["mode", "schema_version"], name="weaklabelset_mode_version")]

    def __str__(self) -> str:
        return f"{self.report} {self.mode} v{self.schema_version}"


class WeakLabel(models.Model):
    """A key that matched in a report, with its assertion and the values that matched."""

    class Status(models.TextChoices):
        POSITIVE = "positive", "Positive"
        UNCERTAIN = "uncertain", "Uncertain"
        NEGATED = "negated", "Negated"

    label_set = models.ForeignKey(WeakLabelSet, on_delete=models.CASCADE, related_name="labels")
    key = models.ForeignKey(EntityKey, on_delete=models.CASCADE, related_name="weak_labels")
    status = models.CharField(max_length=16, choices=Status.choices)
    # The texts of the entity values that matched (provenance that survives a value's deletion).
    values = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["label_set", "key"], name="weaklabel_unique_key"),
        ]
        indexes = [models.Index(fields=["key", "status"], name="weaklabel_key_status")]

    def __str__(self) -> str:
        return f"{self.key} {self.status}"


class AssertionTrigger(models.Model):
    """One assertion trigger of the rule engine and of weak labelling ("no",
    "not detected", "cannot be excluded", "없음"): defaults seeded from
    inference/ml/defaults/default_rules.json, extended by admins on the Rules page.
    Changing a trigger bumps every modality's schema_version (see
    annotations.services.rules), because it changes what the rules extract."""

    class Category(models.TextChoices):
        NEG = "NEG", "Negated"
        HIST = "HIST", "Historical / resolved"
        UNC = "UNC", "Uncertain / hedged"
        PSEUDO = "PSEUDO", "Pseudo-trigger (not a trigger)"
        TERM = "TERM", "Scope terminator"

    class Direction(models.TextChoices):
        FWD = "FWD", "Applies to findings after it"
        BWD = "BWD", "Applies to findings before it"
        BI = "BI", "Both directions"

    phrase = models.CharField(max_length=200)
    category = models.CharField(max_length=8, choices=Category.choices)
    direction = models.CharField(max_length=4, choices=Direction.choices)
    # Words the scope may span; null: the engine's default.
    window = models.PositiveSmallIntegerField(null=True, blank=True)
    language = models.CharField(max_length=8, blank=True)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)  # seeded from default_rules.json
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category", "phrase"]
        constraints = [
            models.UniqueConstraint(
                fields=["phrase", "category", "direction"], name="assertiontrigger_unique"
            ),
            models.CheckConstraint(condition=~Q(phrase=""), name="assertiontrigger_phrase_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.phrase} ({self.category} {self.direction})"


class RuleEntry(models.Model):
    """A word-list entry of the rule engine other than a trigger: section headings,
    location words (laterality, lobe, what combinations mean), organs outside the
    lungs, anaphora that continue a finding into the next sentence. `group` is
    the section kind or the location word's group; `value` the location key a
    combination means (group "keys")."""

    class Kind(models.TextChoices):
        SECTION = "section", "Section heading"
        LOCATION_WORD = "location_word", "Location word"
        OUTSIDE_ORGAN = "outside_organ", "Organ outside the lungs"
        INSIDE_WORD = "inside_word", "Word that keeps a finding in the lungs"
        ANAPHOR = "anaphor", "Anaphor (continues the previous finding)"
        MODIFIED_HEAD = "modified_head", "Noun a finding adjective describes"
        EXTRAPULMONARY = "extrapulmonary", "Location key outside the lungs"
        EPISODE_WORD = "episode_word", "Brain MRI episode reading word"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    group = models.CharField(max_length=32, blank=True)
    text = models.CharField(max_length=200)
    value = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "group", "text"]
        verbose_name_plural = "rule entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "group", "text"], name="ruleentry_unique"),
            models.CheckConstraint(condition=~Q(text=""), name="ruleentry_text_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"

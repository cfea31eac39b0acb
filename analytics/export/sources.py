"""Where exported findings come from, one batch of reports at a time.

Every function takes one batch (report id -> ReportInfo) and runs a fixed
number of queries for it, so an export's memory is bounded by the batch size,
never by the number of reports. `values_list` rows, not model instances.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, TypedDict

from django.db.models import QuerySet
from django.utils import timezone

from analytics.export.records import (
    GOLD,
    NEGATED,
    PRESENT,
    UNCERTAIN,
    UNVERIFIED,
    VERIFIED,
    FindingRecord,
    ReportInfo,
)
from annotations.models import Assignment, EntityKey, EntityType, Mention, Relation, Report
from annotations.selectors import gold_assignment_ids
from inference.models import Stage2Prediction
from inference.selectors import stage1_current_predictions, stage2_current_predictions
from review.models import ReviewFinding, ReviewReport

FINDING_ROLES = (EntityType.Role.FINDING, EntityType.Role.DETAIL)
STAGE2_STATUSES = (PRESENT, UNCERTAIN, NEGATED)
NO_EPISODE = ("", "none")


@dataclass(frozen=True)
class ExportFilters:
    modality: str = ""
    patient_id: str = ""
    source: str = ""
    date_from: date | None = None
    date_to: date | None = None


def reports_selected(filters: ExportFilters) -> QuerySet[Report]:
    reports = Report.objects.all()
    if filters.modality:
        reports = reports.filter(modality__code=filters.modality)
    if filters.patient_id:
        reports = reports.filter(patient_id=filters.patient_id)
    if filters.source:
        reports = reports.filter(source=filters.source)
    tz = timezone.get_current_timezone()
    if filters.date_from:
        reports = reports.filter(study_datetime__gte=datetime.combine(filters.date_from, time.min, tzinfo=tz))
    if filters.date_to:
        reports = reports.filter(study_datetime__lte=datetime.combine(filters.date_to, time.max, tzinfo=tz))
    return reports


def report_batches(
    filters: ExportFilters, *, batch_size: int, with_text: bool
) -> Iterator[dict[int, ReportInfo]]:
    """The selected reports in id order, `batch_size` at a time (keyset paging:
    each batch is one query from the last id on, so neither the database nor
    Python holds more than one batch, on SQLite and PostgreSQL alike)."""
    ids = reports_selected(filters).order_by("pk").values_list("pk", flat=True)
    fields = ["pk", "source", "external_id", "patient_id", "study_datetime", "modality__code", "title"]
    if with_text:
        fields.append("text")
    last = 0
    while True:
        chunk = list(ids.filter(pk__gt=last)[:batch_size])
        if not chunk:
            return
        rows = Report.objects.filter(pk__in=chunk).order_by("pk").values_list(*fields)
        batch = {}
        for row in rows:
            text = row[7] if with_text else None
            batch[row[0]] = ReportInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], text)
        yield batch
        last = chunk[-1]


class KeyIndex:
    """The schema, loaded once per export: key id -> (name, type name, role) and
    (modality code, key name) -> type name."""

    def __init__(self) -> None:
        rows = EntityKey.objects.values_list(
            "pk", "name", "entity_type__name", "entity_type__role", "entity_type__modality__code"
        )
        self.by_id: dict[int, tuple[str, str, str]] = {}
        self.type_by_name: dict[tuple[str, str], str] = {}
        for pk, name, type_name, role, modality in rows:
            self.by_id[pk] = (name, type_name, role)
            self.type_by_name[(modality, name)] = type_name

    def type_of(self, modality: str, key: str, fallback: str = "") -> str:
        return self.type_by_name.get((modality, key), fallback)


# -- verified (review app) -------------------------------------------------------------------


def verified_report_ids(report_ids: list[int]) -> set[int]:
    """Reports a clinician has verified (every finding decided)."""
    return set(
        ReviewReport.objects.filter(report_id__in=report_ids, verified_at__isnull=False).values_list(
            "report_id", flat=True
        )
    )


def verified_records(batch: dict[int, ReportInfo], keys: KeyIndex) -> Iterator[FindingRecord]:
    """Findings a clinician approved, edited or added, on verified reports.
    Rejected AI findings are not findings; undecided ones are not verified.
    Every verified record carries its evidence offsets: the review services
    refuse to verify a finding without a span in the report (review.flags), and
    a row decided before that rule, without one, is not exported as verified
    until a clinician gives it a span (issue 18). A non-tumor detail shares the
    span of the finding it belongs to."""
    positive = (ReviewFinding.Status.APPROVED, ReviewFinding.Status.EDITED, ReviewFinding.Status.ADDED)
    rows = (
        ReviewFinding.objects.filter(
            report_id__in=list(batch),
            review__verified_at__isnull=False,
            superseded=False,
            status__in=positive,
            evidence_start__isnull=False,
            evidence_end__isnull=False,
        )
        .order_by("report_id", "id")
        .values_list(
            "report_id",
            "kind",
            "status",
            "key",
            "locations",
            "episode",
            "details",
            "evidence",
            "evidence_start",
            "evidence_end",
            "model_version_name",
            "prompt_version",
            "stage1_probability",
            "decided_by__username",
            "decided_at",
        )
    )
    for (
        report_id,
        kind,
        status,
        key,
        locations,
        episode,
        details,
        evidence,
        start,
        end,
        model_version,
        prompt,
        probability,
        decided_by,
        decided_at,
    ) in rows:
        report = batch[report_id]
        paired, paired_type = _paired(report.modality, keys, locations, episode)
        model = " / ".join(p for p in (model_version, prompt) if p)
        common: _Decision = {
            "method": f"review:{status}",
            "model": model,
            "decided_by": decided_by or "",
            "decided_at": decided_at,
        }
        yield FindingRecord(
            report=report,
            label=VERIFIED,
            entity_type=keys.type_of(report.modality, key, kind),
            key=key,
            status=PRESENT,
            paired=paired,
            paired_type=paired_type,
            evidence=evidence or "",
            start=start,
            end=end,
            score=probability,
            **common,
        )
        for detail in details or []:
            detail = str(detail)
            entity_type = keys.type_of(report.modality, detail, kind)
            yield FindingRecord(
                report=report,
                label=VERIFIED,
                entity_type=entity_type,
                key=detail,
                status=PRESENT,
                evidence=evidence or "",
                start=start,
                end=end,
                **common,
            )


class _Decision(TypedDict):
    """What every record of one clinician decision shares."""

    method: str
    model: str
    decided_by: str
    decided_at: datetime | None


def _paired(modality: str, keys: KeyIndex, locations: Any, episode: Any) -> tuple[list[str], str]:
    if locations:
        paired = [str(x) for x in locations]
        return paired, keys.type_of(modality, paired[0], "Location")
    if episode and str(episode) not in NO_EPISODE:
        return [str(episode)], keys.type_of(modality, str(episode), "Episode")
    return [], ""


# -- unverified (inference app) --------------------------------------------------------------


def unverified_records(
    batch: dict[int, ReportInfo], keys: KeyIndex, *, skip: set[int]
) -> Iterator[FindingRecord]:
    """Per report not in `skip` (the verified ones): the stage 2 prediction that stands
    for it (inference.selectors: never the rule-based baseline nor an evaluation
    run's); where there is none, stage 1's predicted keys (the active model's first)."""
    wanted = [pk for pk in batch if pk not in skip]
    if not wanted:
        return
    stage2 = stage2_current_predictions(report_ids=wanted)
    rest = [pk for pk in wanted if pk not in stage2]
    stage1 = stage1_current_predictions(report_ids=rest) if rest else {}
    for pk in wanted:
        report = batch[pk]
        if pk in stage2:
            yield from _stage2_records(report, keys, stage2[pk])
        elif pk in stage1:
            prediction1 = stage1[pk]
            for key in prediction1.predicted_keys or []:
                key = str(key)
                score = (prediction1.probabilities or {}).get(key)
                yield FindingRecord(
                    report=report,
                    label=UNVERIFIED,
                    entity_type=keys.type_of(report.modality, key),
                    key=key,
                    status=PRESENT,
                    method="stage1",
                    model=prediction1.model_version.name or "",
                    score=float(score) if isinstance(score, int | float) else None,
                    decided_at=prediction1.created_at,
                )


def _stage2_records(
    report: ReportInfo, keys: KeyIndex, prediction: Stage2Prediction
) -> Iterator[FindingRecord]:
    model = " / ".join(p for p in (prediction.llm_name, prediction.prompt_version) if p)
    for raw in prediction.findings or []:
        if not isinstance(raw, dict) or not raw.get("key"):
            continue
        key = str(raw["key"])
        status = str(raw["status"]) if raw.get("status") in STAGE2_STATUSES else PRESENT
        paired, paired_type = _paired(report.modality, keys, raw.get("locations"), raw.get("episode"))
        start, end = _span(raw.get("evidence_span"), report.text)
        yield FindingRecord(
            report=report,
            label=UNVERIFIED,
            entity_type=keys.type_of(report.modality, key, str(raw.get("kind") or "")),
            key=key,
            status=status,
            paired=paired,
            paired_type=paired_type,
            evidence=str(raw.get("evidence") or ""),
            start=start,
            end=end,
            method=f"stage2:{prediction.mode}",
            model=model,
            decided_at=prediction.created_at,
        )


def _span(span: Any, text: str | None) -> tuple[int | None, int | None]:
    """A stored [start, end] if it is a valid span of the text (when known)."""
    if not (isinstance(span, list | tuple) and len(span) == 2):
        return None, None
    try:
        start, end = int(span[0]), int(span[1])
    except (TypeError, ValueError):
        return None, None
    if start < 0 or end <= start or (text is not None and end > len(text)):
        return None, None
    return start, end


# -- gold (annotations app) ------------------------------------------------------------------


def gold_records(batch: dict[int, ReportInfo], keys: KeyIndex) -> Iterator[FindingRecord]:
    """Each finding mention of each report's gold version, with the keys it is
    paired with; a key-level pair without mentions is one record without a span."""
    gold = gold_assignment_ids(report_ids=list(batch))
    if not gold:
        return
    assignment_ids = list(gold.values())
    meta = {
        pk: (kind, username, submitted)
        for pk, kind, username, submitted in Assignment.objects.filter(pk__in=assignment_ids).values_list(
            "pk", "kind", "annotator__username", "submitted_at"
        )
    }
    by_mention: dict[int, list[int]] = defaultdict(list)  # source mention -> target key ids
    # assignment -> source key -> target keys, for pairs marked without mentions
    by_key: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for assignment_id, source_key, target_key, source_mention in (
        Relation.objects.filter(assignment_id__in=assignment_ids)
        .order_by("id")
        .values_list("assignment_id", "source_key_id", "target_key_id", "source_mention_id")
    ):
        if source_mention is None:
            by_key[assignment_id][source_key].append(target_key)
        else:
            by_mention[source_mention].append(target_key)
    mentions: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in (
        Mention.objects.filter(assignment_id__in=assignment_ids)
        .order_by("start", "end", "id")
        .values_list("id", "assignment_id", "key_id", "start", "end", "negated", "uncertain")
    ):
        mentions[row[1]].append(row)
    for report_id, assignment_id in sorted(gold.items()):
        report = batch[report_id]
        kind, username, submitted = meta[assignment_id]
        common = {"method": f"gold:{kind}", "decided_by": username or "", "decided_at": submitted}
        mentioned: set[int] = set()
        key_pairs = by_key.get(assignment_id, {})
        for mention_id, _a, key_id, start, end, negated, uncertain in mentions[assignment_id]:
            _name, _type, role = keys.by_id[key_id]
            if role not in FINDING_ROLES:
                continue  # locations / episodes are exported as what a finding is paired with
            mentioned.add(key_id)
            targets = by_mention.get(mention_id, []) + key_pairs.pop(key_id, [])
            status = NEGATED if negated else UNCERTAIN if uncertain else PRESENT
            yield _gold_record(report, keys, key_id, targets, status, start, end, common)
        for key_id, targets in sorted(key_pairs.items()):
            if key_id not in mentioned:
                yield _gold_record(report, keys, key_id, targets, PRESENT, None, None, common)


def _gold_record(
    report: ReportInfo,
    keys: KeyIndex,
    key_id: int,
    targets: list[int],
    status: str,
    start: int | None,
    end: int | None,
    common: dict[str, Any],
) -> FindingRecord:
    name, type_name, _role = keys.by_id[key_id]
    paired = [keys.by_id[t][0] for t in dict.fromkeys(targets)]
    evidence = report.text[start:end] if report.text is not None and start is not None else ""
    return FindingRecord(
        report=report,
        label=GOLD,
        entity_type=type_name,
        key=name,
        status=status,
        paired=paired,
        paired_type=keys.by_id[targets[0]][1] if targets else "",
        evidence=evidence,
        start=start,
        end=end,
        **common,
    )


def records_for_batch(
    batch: dict[int, ReportInfo], keys: KeyIndex, labels: tuple[str, ...]
) -> Iterator[FindingRecord]:
    """The batch's records, per label in the order verified, unverified, gold."""
    verified = verified_report_ids(list(batch)) if UNVERIFIED in labels else set()
    if VERIFIED in labels:
        yield from verified_records(batch, keys)
    if UNVERIFIED in labels:
        yield from unverified_records(batch, keys, skip=verified)
    if GOLD in labels:
        yield from gold_records(batch, keys)

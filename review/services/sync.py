"""(Re)build a report's review findings from its latest predictions, idempotently.

Called after inference stores predictions (ReviewConfig.ready() registers
sync_report_findings with inference.hooks.on_stage2_stored, so each report a
stage 2 batch maps enters the queue), and by the review_sync command:

    sync_report_findings(report)          # one report
    sync_reports(report_ids)              # many, in chunks
    sync_reports_findings(reports)        # a group at once, in a few queries (a stage 2 chunk)

Sources: the latest stage 1 prediction (of the active model version when there
is one) and the stage 2 prediction that stands for the report (the rule is
inference.selectors.stage2_current_prediction: the pipeline's latest valid one,
never the rules baseline's or an evaluation run's). Every
positive stage 2 finding (present / uncertain) is one review finding; a stage 1
key that stage 2 did not confirm is one too (flag `stage1_only`), so that every
claim the models make is verified.

Idempotence: each AI finding is identified by a fingerprint of its content
(kind, key, status, locations, episode, details). A fingerprint already present
is kept (a pending row gets the newer provenance); a new one becomes a new
pending finding; a pending finding whose fingerprint is no longer predicted is
marked superseded. Decided findings are never touched, so a verified report
that gets a different prediction shows it as a new, unverified suggestion. A
stage-1-only claim on a key a clinician already decided asks nothing new and is
skipped.

Combined predictions (mode "combined") keep their provenance in the finding's
`ai` snapshot: `source` (which of rules / stage1 / llm / rules+llm decided it)
and `sources` (each source's verdict); their flags (rules_stage1_disagree,
llm_disagrees, ...) join the row's `flags` and count as disagreement for the
queue's priority.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Count, Q
from django.utils import timezone

from annotations.models import EntityKey, EntityType, Modality, Report
from annotations.selectors import site_detector
from inference.ml.combined import FLAG_DISAGREE, FLAG_LLM_DISAGREE, FLAG_LLM_UNVERIFIED, FLAG_UNCONFIRMED
from inference.ml.llm.mapping import FLAG_UNMATCHED, locate_evidence
from inference.ml.text.assertion import AssertionDetector
from inference.models import Stage1Prediction, Stage2Prediction
from inference.selectors import (
    HEAVY_FIELDS,
    stage1_current_predictions,
    stage2_pipeline_predictions,
)
from radreview.pg_stats import tables_analyze_grown
from review.flags import FLAG_HALLUCINATION
from review.models import OPEN, ReviewFinding, ReviewReport

POSITIVE = ("present", "uncertain")
NEAR_THRESHOLD = 0.1  # a stage 1 probability this close to its threshold counts as unsure
DEFAULT_THRESHOLD = 0.5

# Our flags, next to those of inference.ml.llm.mapping (FLAG_HALLUCINATION: review.flags).
FLAG_STAGE1_ONLY = "stage1_only"
FLAG_STAGE2_ONLY = "stage2_only"
FLAG_NEAR_THRESHOLD = "near_threshold"
FLAG_LLM_FAILED = "llm_failed"
# The combined extractor's flags that say its sources disagreed.
COMBINED_DISAGREEMENT = {FLAG_DISAGREE, FLAG_LLM_DISAGREE, FLAG_UNCONFIRMED, FLAG_LLM_UNVERIFIED}

_ROLE_KIND: dict[str, str | None] = {
    EntityType.Role.FINDING: None,  # lesion or diagnosis, by modality
    EntityType.Role.DETAIL: ReviewFinding.Kind.NON_TUMOR,
}


@dataclass
class Item:
    """One AI finding as the latest predictions state it."""

    kind: str
    key: str
    ai: dict[str, Any]
    locations: list[str] = field(default_factory=list)
    episode: str = ""
    details: list[str] = field(default_factory=list)
    evidence: str = ""
    span: tuple[int, int] | None = None
    flags: list[str] = field(default_factory=list)
    probability: float | None = None
    threshold: float | None = None
    # False for a stage 1 key stage 2 did not confirm. Not read from `ai["source"]`:
    # a combined finding that stage 1 decided also has source "stage1".
    from_stage2: bool = True

    @property
    def fingerprint(self) -> str:
        content = [
            self.kind,
            self.key,
            self.ai.get("status", "present"),
            sorted(self.locations),
            self.episode,
            sorted(self.details),
        ]
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:32]


def finding_kinds(modality: Modality) -> dict[str, str]:
    """key name -> review finding kind, for the keys that are findings (not locations/episodes)."""
    default = ReviewFinding.Kind.LESION if modality.code == "chest_ct" else ReviewFinding.Kind.DIAGNOSIS
    rows = EntityKey.objects.filter(
        entity_type__modality=modality, entity_type__role__in=list(_ROLE_KIND)
    ).values_list("name", "entity_type__role")
    return {name: _ROLE_KIND[role] or default for name, role in rows}


def _valid_span(text: str, span: Any) -> tuple[int, int] | None:
    if isinstance(span, list | tuple) and len(span) == 2:
        start, end = int(span[0]), int(span[1])
        if 0 <= start < end <= len(text):
            return start, end
    return None


def desired_items(
    report: Report,
    stage1: Stage1Prediction | None,
    stage2: Stage2Prediction | None,
    llm_failed: bool,
    kinds: dict[str, str],
    detector: AssertionDetector | None = None,
) -> list[Item]:
    text = report.text
    detector = detector or site_detector()  # the triggers admins maintain, as on the review page
    probabilities = (stage1.probabilities or {}) if stage1 else {}
    thresholds = (stage1.model_version.thresholds or {}) if stage1 else {}
    s1_keys = {k for k in (stage1.predicted_keys if stage1 else []) if k in kinds}
    items: list[Item] = []
    for raw in (stage2.findings or []) if stage2 else []:
        if not isinstance(raw, dict) or raw.get("status") not in POSITIVE or not raw.get("key"):
            continue
        key = str(raw["key"])
        evidence = str(raw.get("evidence") or "")
        span = _valid_span(text, raw.get("evidence_span"))
        if span is None and evidence:
            span = locate_evidence(text, evidence)
        flags = [str(f) for f in raw.get("flags") or []]
        # A combined finding stage 1 decided (the lexicon was silent) has no quote to
        # check; its `lexicon_silent` flag already says why.
        unquoted_stage1 = not evidence and raw.get("source") == "stage1"
        if not unquoted_stage1 and (span is None or detector.span_negated(text, span)):
            flags.append(FLAG_HALLUCINATION)
        if not unquoted_stage1 and span is None and FLAG_UNMATCHED not in flags:
            flags.append(FLAG_UNMATCHED)
        if stage1 is not None and key not in s1_keys:
            flags.append(FLAG_STAGE2_ONLY)
        items.append(
            Item(
                kind=str(raw.get("kind") or kinds.get(key, ReviewFinding.Kind.LESION)),
                key=key,
                ai=raw,
                locations=[str(x) for x in raw.get("locations") or []],
                episode=str(raw.get("episode") or ""),
                details=[str(x) for x in raw.get("details") or []],
                evidence=evidence,
                span=span,
                flags=flags,
            )
        )
    confirmed = {i.key for i in items}
    for key in sorted(s1_keys - confirmed):
        flags = [FLAG_STAGE1_ONLY] + ([FLAG_LLM_FAILED] if llm_failed else [])
        items.append(
            Item(
                kind=kinds[key], key=key, ai={"key": key, "source": "stage1"}, flags=flags, from_stage2=False
            )
        )
    for item in items:
        if item.key in probabilities:
            item.probability = float(probabilities[item.key])
            item.threshold = float(thresholds.get(item.key, DEFAULT_THRESHOLD))
            if abs(item.probability - item.threshold) < NEAR_THRESHOLD:
                item.flags.append(FLAG_NEAR_THRESHOLD)
    return items


def _signals(stage1: Stage1Prediction | None, items: list[Item], llm_failed: bool) -> dict[str, Any]:
    margins = []
    if stage1 is not None:
        thresholds = stage1.model_version.thresholds or {}
        for key, p in (stage1.probabilities or {}).items():
            margins.append(abs(float(p) - float(thresholds.get(key, DEFAULT_THRESHOLD))))
    margin = min(margins) if margins else None
    flags = {f for i in items for f in i.flags}
    return {
        "margin": round(margin, 4) if margin is not None else None,
        "near_threshold": margin is not None and margin < NEAR_THRESHOLD,
        "disagreement": bool(flags & {FLAG_STAGE1_ONLY, FLAG_STAGE2_ONLY, *COMBINED_DISAGREEMENT}),
        "unmatched": bool(flags & {FLAG_UNMATCHED, FLAG_HALLUCINATION}),
        # A combined prediction is stored as ok when its LLM call failed (the rules'
        # answer stands); the flag on its findings still ranks the report first.
        "llm_failed": llm_failed or FLAG_LLM_FAILED in flags,
    }


def priority_of(signals: dict[str, Any]) -> float:
    """Least sure first: a failed LLM output, then disagreement and unmatched
    evidence, then closeness of the nearest stage 1 probability to its threshold."""
    score = 4.0 * bool(signals.get("llm_failed"))
    score += 3.0 * bool(signals.get("disagreement")) + 2.0 * bool(signals.get("unmatched"))
    margin = signals.get("margin")
    if margin is not None:
        score += max(0.0, 1.0 - float(margin) / 0.5)
    return round(score, 4)


def _apply_provenance(row: ReviewFinding, item: Item, stage1: Any, stage2: Any) -> None:
    row.flags = item.flags
    row.stage1_probability, row.stage1_threshold = item.probability, item.threshold
    row.stage1_prediction = stage1
    row.stage2_prediction = stage2 if item.from_stage2 else None
    row.model_version_name = stage1.model_version.name if stage1 else ""
    row.prompt_version = stage2.prompt_version if stage2 and row.stage2_prediction else ""


def review_refresh(review: ReviewReport) -> None:
    """Recompute counts and status from the findings (call while holding the review's row lock)."""
    counts = review.findings.filter(superseded=False).aggregate(
        total=Count("id"), pending=Count("id", filter=Q(status=ReviewFinding.Status.PENDING))
    )
    review_counts_apply(review, total=counts["total"], pending=counts["pending"])


def review_counts_apply(review: ReviewReport, *, total: int, pending: int) -> None:
    """Set the review's counts and the status they make (review_refresh's rule)."""
    review.n_total, review.n_pending = total, pending
    decided = review.n_total - review.n_pending
    if review.n_pending:
        review.status = ReviewReport.Status.IN_PROGRESS if decided else ReviewReport.Status.PENDING
    elif review.n_total or (review.verified_at and review.status == ReviewReport.Status.VERIFIED):
        review.status = ReviewReport.Status.VERIFIED
    elif review.signals.get("llm_failed"):
        review.status = ReviewReport.Status.PENDING  # a clinician confirms there is nothing
    else:
        review.status = ReviewReport.Status.NO_FINDINGS


def sync_report_findings(report: Report) -> ReviewReport:
    """Bring the report's review findings up to date with its latest predictions."""
    return sync_reports_findings([report])[0]


SYNC_CHUNK = 500
PROVENANCE = [
    "flags",
    "stage1_probability",
    "stage1_threshold",
    "stage1_prediction",
    "stage2_prediction",
    "model_version_name",
    "prompt_version",
]
REVIEW_SYNCED = [
    "signals",
    "priority",
    "model_version",
    "prompt_version",
    "modality",
    "patient_id",
    "study_datetime",
    "synced_at",
    "n_total",
    "n_pending",
    "status",
]


def sync_stored_batch(reports: Sequence[Report]) -> list[ReviewReport]:
    """What a stage 2 batch calls for a group of stored reports: the batched sync, after
    refreshing the statistics of the tables a cohort grows (outside the sync's
    transaction: radreview/pg_stats.py says why the sync's reads need them)."""
    tables_analyze_grown([ReviewFinding, ReviewReport, Stage2Prediction])
    return sync_reports_findings(reports)


@transaction.atomic
def sync_reports_findings(reports: Sequence[Report]) -> list[ReviewReport]:
    """Bring the review findings of a group of reports (a stage 2 chunk's) up to date
    in a few queries: the predictions, reviews and live findings are read for all of
    them at once, and new, changed and superseded findings are written in bulk
    (unchanged ones are not written). The same result as syncing each report alone."""
    reports = list({r.pk: r for r in reports}.values())
    if not reports:
        return []
    ids = [r.pk for r in reports]
    reviews = _reviews_locked(ids)
    stage1s = stage1_current_predictions(report_ids=ids)
    current2, latest2 = _stage2_rows(ids)
    live: dict[int, list[ReviewFinding]] = {}
    for live_row in ReviewFinding.objects.filter(report_id__in=ids, superseded=False).order_by("id"):
        live.setdefault(live_row.report_id, []).append(live_row)
    kinds_by_modality: dict[int, dict[str, str]] = {}
    detector = site_detector()
    new: list[ReviewFinding] = []
    changed: list[ReviewFinding] = []
    gone: list[int] = []
    now = timezone.now()
    for report in reports:
        kinds = kinds_by_modality.get(report.modality_id)
        if kinds is None:
            kinds = kinds_by_modality[report.modality_id] = finding_kinds(report.modality)
        review, stage1, stage2 = reviews[report.pk], stage1s.get(report.pk), current2.get(report.pk)
        latest = latest2.get(report.pk)
        llm_failed = latest is not None and latest.status == Stage2Prediction.Status.FAILED
        items = desired_items(report, stage1, stage2, llm_failed, kinds, detector)
        rows = live.get(report.pk, [])
        existing = {f.fingerprint: f for f in rows if f.ai is not None}
        decided_keys = {f.key for f in rows if f.is_decided}
        items = [i for i in items if i.from_stage2 or i.key not in decided_keys]
        seen: set[str] = set()
        added: list[ReviewFinding] = []
        for item in items:
            fp = item.fingerprint
            if fp in seen:
                continue
            seen.add(fp)
            row = existing.get(fp)
            if row is None:
                fresh = _finding_new(review, report, item, fp)
                _apply_provenance(fresh, item, stage1, stage2)
                added.append(fresh)
            elif not row.is_decided:
                before = [getattr(row, _attname(name)) for name in PROVENANCE]
                _apply_provenance(row, item, stage1, stage2)
                if before != [getattr(row, _attname(name)) for name in PROVENANCE]:
                    changed.append(row)
        superseded = {row.pk for fp, row in existing.items() if fp not in seen and not row.is_decided}
        gone.extend(superseded)
        new.extend(added)
        kept = [f for f in rows if f.pk not in superseded] + added
        review.signals = _signals(stage1, items, llm_failed)
        review.priority = priority_of(review.signals)
        review.model_version = stage1.model_version if stage1 else None
        review.prompt_version = stage2.prompt_version if stage2 else ""
        review.modality_id, review.patient_id = report.modality_id, report.patient_id
        review.study_datetime = report.study_datetime
        review.synced_at = now
        pending = sum(1 for f in kept if f.status == ReviewFinding.Status.PENDING)
        review_counts_apply(review, total=len(kept), pending=pending)
    # One INSERT .. ON CONFLICT DO UPDATE: a new review is written once, with its final
    # values (its id comes back for its findings), a locked existing one is updated (in a
    # fraction of bulk_update's CASE per field and row).
    ReviewReport.objects.bulk_create(
        list(reviews.values()),
        update_conflicts=True,
        unique_fields=["report"],
        update_fields=REVIEW_SYNCED,
        batch_size=500,
    )
    ReviewFinding.objects.bulk_create(new, batch_size=500)
    ReviewFinding.objects.bulk_update(changed, PROVENANCE, batch_size=500)
    if gone:
        ReviewFinding.objects.filter(pk__in=gone).update(superseded=True)
    return [reviews[i] for i in ids]


# The advisory lock's namespace, in the key's top 16 bits (the report id below them).
_NEW_REVIEW_LOCK = 7_301


def _reviews_locked(ids: list[int]) -> dict[int, ReviewReport]:
    """report id -> its review, locked for this transaction; a report without one gets
    an unsaved ReviewReport that the caller's upsert creates.

    Only this sync creates reviews. On PostgreSQL a missing review is not inserted
    here and updated again at the end (two writes of each of its nine index entries, and
    a dead row for autovacuum, per report of a first sync): the report id's advisory
    lock stands in for the row lock until the upsert, so two syncs of one new report
    still run one after the other. Elsewhere (SQLite: one writer at a time) the empty
    rows are inserted first and locked, as before."""
    locked = ReviewReport.objects.select_for_update().order_by("id")
    connection = connections[router.db_for_write(ReviewReport)]
    if connection.vendor != "postgresql":
        ReviewReport.objects.bulk_create([ReviewReport(report_id=i) for i in ids], ignore_conflicts=True)
        return {r.report_id: r for r in locked.filter(report_id__in=ids)}
    reviews = {r.report_id: r for r in locked.filter(report_id__in=ids)}
    missing = sorted(set(ids) - set(reviews))
    if missing:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock((%s::bigint << 48) | x) "
                "FROM unnest(%s::bigint[]) AS t(x) ORDER BY x",
                [_NEW_REVIEW_LOCK, missing],
            )
        # A sync that held one of those locks has committed its review meanwhile.
        reviews |= {r.report_id: r for r in locked.filter(report_id__in=missing)}
    return reviews | {i: ReviewReport(report_id=i) for i in missing if i not in reviews}


def _attname(name: str) -> str:
    return f"{name}_id" if name in ("stage1_prediction", "stage2_prediction") else name


def _finding_new(review: ReviewReport, report: Report, item: Item, fp: str) -> ReviewFinding:
    return ReviewFinding(
        review=review,
        report=report,
        kind=item.kind,
        key=item.key,
        locations=item.locations,
        episode=item.episode,
        details=item.details,
        evidence=item.evidence,
        evidence_start=item.span[0] if item.span else None,
        evidence_end=item.span[1] if item.span else None,
        ai=item.ai,
        fingerprint=fp,
    )


def _stage2_rows(ids: list[int]) -> tuple[dict[int, Stage2Prediction], dict[int, Stage2Prediction]]:
    """(report id -> the stage 2 prediction that stands, report id -> the pipeline's
    latest try): the rules of stage2_current_predictions and
    stage2_latest_pipeline_attempt, from one query."""
    current: dict[int, Stage2Prediction] = {}
    latest: dict[int, Stage2Prediction] = {}
    rows = stage2_pipeline_predictions(report_ids=ids).select_related("stage1_version").defer(*HEAVY_FIELDS)
    for row in rows.iterator(chunk_size=500):
        latest.setdefault(row.report_id, row)
        if row.status == Stage2Prediction.Status.OK:
            current.setdefault(row.report_id, row)
    return current, latest


def sync_reports(report_ids: Iterable[int]) -> int:
    """sync_report_findings for many reports; returns how many were synced."""
    ids = list(report_ids)
    done = 0
    for i in range(0, len(ids), SYNC_CHUNK):
        reports = list(Report.objects.filter(pk__in=ids[i : i + SYNC_CHUNK]).select_related("modality"))
        done += len(sync_reports_findings(reports))
    return done


def reviews_supersede(sender: Any, report_ids: list[int], **kwargs: Any) -> int:
    """The open reviews of superseded reports leave the clinicians' queue (status
    superseded); decided ones keep their status and decisions."""
    return ReviewReport.objects.filter(report_id__in=report_ids, status__in=OPEN).update(
        status=ReviewReport.Status.SUPERSEDED
    )

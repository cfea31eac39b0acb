"""Reads for the annotations app (writes live in services/)."""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Value, When

from annotations.models import (
    AssertionTrigger,
    Assignment,
    EntityKey,
    EntityValue,
    GoldKeyLabel,
    Mention,
    Modality,
    Relation,
    Report,
    RuleEntry,
)
from inference.ml.defaults import default_ruleset
from inference.ml.text.assertion import AssertionDetector
from inference.ml.text.matcher import LayeredMatcher, Matcher
from inference.ml.text.matcher import Value as LexiconValue
from inference.ml.text.rules import RuleSet, pinned_ruleset
from jobs.models import Job
from radreview.roles import PERM_ADJUDICATE, PERM_ANNOTATE, PERM_IMPORT, PERM_REVIEW

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_stubs_ext import WithAnnotations

PRESENT, UNCERTAIN, NEGATED = "present", "uncertain", "negated"
_RANK = {NEGATED: 0, UNCERTAIN: 1, PRESENT: 2}


def report_list(*, modality: str = "", source: str = "", patient_id: str = "") -> QuerySet[Report]:
    reports = Report.objects.select_related("modality").defer("text")
    if modality:
        reports = reports.filter(modality__code=modality)
    if source:
        reports = reports.filter(source=source)
    if patient_id:
        reports = reports.filter(patient_id=patient_id)
    return reports.order_by("-study_datetime", "-id")


# -- who reads which report (issue 17) --------------------------------------------------

OPEN_STATUSES = (Assignment.Status.TODO, Assignment.Status.IN_PROGRESS)


def reports_visible_to(*, user: Any) -> QuerySet[Report]:
    """The reports whose text and patient id `user` may read through the API: every
    report for those who hold the report pages (PERM_IMPORT, admins); otherwise the
    reports they have work on: an assignment of theirs (annotators) or a review item
    (clinicians: the review queue is shared, so any report in it). Least privilege:
    holding a role is not a reason to read the whole corpus."""
    reports = Report.objects.select_related("modality")
    if not user.is_authenticated:
        return reports.none()
    if user.has_perm(PERM_IMPORT):
        return reports
    work: list[Any] = []
    if user.has_perm(PERM_ANNOTATE) or user.has_perm(PERM_ADJUDICATE):
        work.append(Exists(Assignment.objects.filter(report=OuterRef("pk"), annotator_id=user.pk)))
    if user.has_perm(PERM_REVIEW):
        # review.ReviewReport (report.review), named by its reverse accessor:
        # annotations does not import review.
        work.append(Q(review__isnull=False))
    return reports.filter(functools.reduce(operator.or_, work)) if work else reports.none()


def annotation_blind(*, user: Any, report_id: int) -> bool:
    """Whether `user` must see nothing of anyone else's work on the report: they
    annotate it and their assignment is still open (blind double annotation). An
    adjudicator (admins) is never blind: comparing versions is their job."""
    if not user.is_authenticated or user.has_perm(PERM_ADJUDICATE):
        return False
    return Assignment.objects.filter(
        report_id=report_id,
        annotator_id=user.pk,
        kind=Assignment.Kind.ANNOTATION,
        status__in=OPEN_STATUSES,
    ).exists()


def values_learned_by_others(*, assignment: Assignment) -> set[int]:
    """Entity values that other people with work on this report created since their
    assignment on it was made: they may have been learned from their mentions of
    this very report (a value does not record its report), so an open, blind
    assignment is not offered them as suggestions. Costs one query; may hide a
    value learned elsewhere in that window, which the annotator can still mark."""
    return set(
        EntityValue.objects.filter(
            key__entity_type__modality_id=assignment.report.modality_id,
            created_by__assignments__report_id=assignment.report_id,
            created_at__gte=F("created_by__assignments__created_at"),
        )
        .exclude(created_by_id=assignment.annotator_id)
        .values_list("id", flat=True)
    )


# -- gold ------------------------------------------------------------------------------


def _pick_gold(submitted: Sequence[tuple[int, str]]) -> int | None:
    """From a report's submitted assignments [(id, kind)] in creation order: an
    adjudication, else imported gold, else the only annotation (two annotations
    and no adjudication: no gold yet)."""
    for kind in (Assignment.Kind.ADJUDICATION, Assignment.Kind.IMPORTED):
        for assignment_id, assignment_kind in submitted:
            if assignment_kind == kind:
                return assignment_id
    annotations = [a for a, kind in submitted if kind == Assignment.Kind.ANNOTATION]
    return annotations[0] if len(annotations) == 1 else None


def report_gold_assignment(*, report: Report) -> Assignment | None:
    """The version of a report that counts as gold: an adjudication if there is
    one, else imported gold, else the only submitted annotation."""
    submitted = list(
        report.assignments.filter(status=Assignment.Status.SUBMITTED).order_by("created_at", "id")
    )
    chosen = _pick_gold([(a.pk, a.kind) for a in submitted])
    return next((a for a in submitted if a.pk == chosen), None)


def gold_assignment_ids(*, report_ids: Iterable[int]) -> dict[int, int]:
    """report id -> its gold assignment id, for the reports that have gold (one query).
    A superseded report has none: its mentions point into a text that was corrected."""
    rows = (
        Assignment.objects.filter(
            report_id__in=list(report_ids),
            status=Assignment.Status.SUBMITTED,
            report__superseded_at__isnull=True,
        )
        .order_by("report_id", "created_at", "id")
        .values_list("report_id", "id", "kind")
    )
    by_report: dict[int, list[tuple[int, str]]] = {}
    for report_id, assignment_id, kind in rows:
        by_report.setdefault(report_id, []).append((assignment_id, kind))
    out = {}
    for report_id, submitted in by_report.items():
        chosen = _pick_gold(submitted)
        if chosen is not None:
            out[report_id] = chosen
    return out


def annotated_report_ids(*, report_ids: Iterable[int]) -> set[int]:
    """Reports someone has submitted a version of (any kind): these are not weak-labelled."""
    return set(
        Assignment.objects.filter(report_id__in=list(report_ids), status=Assignment.Status.SUBMITTED)
        .values_list("report_id", flat=True)
        .distinct()
    )


def key_statuses(*, assignment_ids: Iterable[int]) -> dict[int, dict[int, str]]:
    """assignment id -> {key id: "present" | "uncertain" | "negated"} for every key
    the assignment mentions (three queries). A key's status is its strongest
    mention's (present > uncertain > negated); a key used as the source of a pair
    without mentions is present; a parent key ("other non-tumor") is present when
    one of its detail keys is, as in the gold files."""
    ids = list(assignment_ids)
    out: dict[int, dict[int, str]] = {a: {} for a in ids}
    for assignment_id, key_id, negated, uncertain in Mention.objects.filter(
        assignment_id__in=ids
    ).values_list("assignment_id", "key_id", "negated", "uncertain"):
        _raise(out[assignment_id], key_id, NEGATED if negated else UNCERTAIN if uncertain else PRESENT)
    for assignment_id, key_id in Relation.objects.filter(
        assignment_id__in=ids, source_mention__isnull=True
    ).values_list("assignment_id", "source_key_id"):
        _raise(out[assignment_id], key_id, PRESENT)
    # Report-level statuses of imported labels (no span: a 0/1 CSV, a gold summary).
    for assignment_id, key_id, status in GoldKeyLabel.objects.filter(assignment_id__in=ids).values_list(
        "assignment_id", "key_id", "status"
    ):
        _raise(out[assignment_id], key_id, status)
    parents = key_parents()
    for statuses in out.values():
        for key_id, status in list(statuses.items()):
            if key_id in parents and status != NEGATED:
                _raise(statuses, parents[key_id], status)
    return out


def _raise(statuses: dict[int, str], key_id: int, status: str) -> None:
    if key_id not in statuses or _RANK[status] > _RANK[statuses[key_id]]:
        statuses[key_id] = status


def key_parents() -> dict[int, int]:
    return dict(EntityKey.objects.filter(parent__isnull=False).values_list("id", "parent_id"))


# -- schema and lexicon ----------------------------------------------------------------


def modality_keys(*, modality: Modality) -> list[EntityKey]:
    """Active keys of a modality in schema order, with their type."""
    return list(
        EntityKey.objects.filter(entity_type__modality=modality, is_active=True)
        .select_related("entity_type", "pairs_with", "implicit_location")
        .order_by("entity_type__order", "order", "name")
    )


def modality_values(*, modality: Modality) -> list[LexiconValue]:
    rows = EntityValue.objects.filter(key__entity_type__modality=modality, key__is_active=True).values_list(
        "id", "key_id", "text", "kind", "case_sensitive"
    )
    return [
        LexiconValue(key=key_id, text=text, kind=kind, case_sensitive=cs, id=pk)
        for pk, key_id, text, kind, cs in rows
    ]


LAYER_LIMIT = 25  # values added since the last full compile that ride in a small second matcher
_matchers: dict[int, tuple[int, Matcher | LayeredMatcher]] = {}
_matchers_lock = threading.Lock()


def modality_matcher(*, modality: Modality) -> Matcher | LayeredMatcher:
    """The compiled lexicon of a modality (keys are key ids) for suggestions,
    cached per process and brought up to date when the schema version changes
    (value edits go through services.values, which bump it). Values only added
    since the last full compile go into a small second layer, so a mention save
    that teaches a new value does not pay for recompiling the whole lexicon; an
    edit or deletion, or more than LAYER_LIMIT additions, compiles afresh."""
    cached = _matchers.get(modality.pk)
    if cached is not None and cached[0] == modality.schema_version:
        return cached[1]
    values = modality_values(modality=modality)
    matcher: Matcher | LayeredMatcher
    base = cached[1] if cached else None
    base = base.base if isinstance(base, LayeredMatcher) else base
    compiled = set(base.values) if base else set()
    added = [v for v in values if v not in compiled]
    if base is not None and compiled <= set(values) and len(added) <= LAYER_LIMIT:
        matcher = LayeredMatcher(base, added) if added else base
    else:
        matcher = Matcher(values)
    with _matchers_lock:
        _matchers[modality.pk] = (modality.schema_version, matcher)
    return matcher


# -- the site's rules ---------------------------------------------------------------------

# default_rules.json list name -> RuleEntry kind
LIST_KINDS = {
    "outside_organs": RuleEntry.Kind.OUTSIDE_ORGAN,
    "inside_words": RuleEntry.Kind.INSIDE_WORD,
    "anaphora": RuleEntry.Kind.ANAPHOR,
    "modified_heads": RuleEntry.Kind.MODIFIED_HEAD,
    "extrapulmonary_locations": RuleEntry.Kind.EXTRAPULMONARY,
}
LOCATION_KEYS_GROUP = "keys"
# Location word groups that map a phrase to a key (its `value`) rather than list words:
# "keys" (what a side/position combination means), "parents" (a location key -> the
# key it lies in, for inference.ml.text.location_keys), "only_for" (a location key -> the
# lesion keys that may have it, comma-separated).
LOCATION_MAPPING_GROUPS = (LOCATION_KEYS_GROUP, "parents", "only_for")


def rules_data_from_db() -> dict[str, Any]:
    """The active rules in the default_rules.json layout."""
    triggers = [
        {"phrase": t.phrase, "category": t.category, "direction": t.direction, "window": t.window}
        for t in AssertionTrigger.objects.filter(is_active=True).order_by("pk")
    ]
    data: dict[str, Any] = {"triggers": triggers, "sections": [], "location_words": {}}
    data.update({name: [] for name in LIST_KINDS})
    kind_to_list: dict[str, str] = {kind: name for name, kind in LIST_KINDS.items()}
    for entry in RuleEntry.objects.filter(is_active=True).order_by("pk"):
        if entry.kind == RuleEntry.Kind.SECTION:
            data["sections"].append({"phrase": entry.text, "kind": entry.group})
        elif entry.kind == RuleEntry.Kind.EPISODE_WORD:
            data.setdefault("episode_words", {}).setdefault(entry.group, []).append(entry.text)
        elif entry.kind == RuleEntry.Kind.LOCATION_WORD:
            words = data["location_words"]
            if entry.group in LOCATION_MAPPING_GROUPS:
                words.setdefault(entry.group, {})[entry.text] = entry.value
            else:
                words.setdefault(entry.group, []).append(entry.text)
        else:
            data[kind_to_list[entry.kind]].append(entry.text)
    return data


def ruleset_from_db() -> RuleSet:
    """The rules as the database holds them now (not cached: the rules page); the
    defaults when the tables are empty (a database migrated without the seed)."""
    if not AssertionTrigger.objects.exists():
        return default_ruleset()
    return RuleSet.from_data(rules_data_from_db(), label="database")


@dataclass(frozen=True)
class _SiteRules:
    ruleset: RuleSet
    detector: AssertionDetector


# (modality id) -> (its schema_version, the rules built then). Every rule change bumps
# every modality's schema_version (services.rules.rules_changed), so a modality's
# version is the rules' version as seen from it, and a caller that has its modality
# loaded learns whether the rules moved without a query.
_site_rules: dict[int, tuple[int, _SiteRules]] = {}


def _current_site_rules(modality: Modality | None) -> _SiteRules:
    if modality is None:
        modality = Modality.objects.order_by("pk").only("pk", "schema_version").first()
        if modality is None:  # no modality, so no version a rule change would bump
            ruleset = ruleset_from_db()
            return _SiteRules(ruleset, AssertionDetector(ruleset.triggers))
    cached = _site_rules.get(modality.pk)
    if cached is not None and cached[0] == modality.schema_version:
        return cached[1]
    ruleset = ruleset_from_db()
    rules = _SiteRules(ruleset, AssertionDetector(ruleset.triggers))
    _site_rules[modality.pk] = (modality.schema_version, rules)
    return rules


def site_ruleset(*, modality: Modality | None = None) -> RuleSet:
    """The rules admins maintain, as the rule engine reads them: cached per
    process, rebuilt when the rules' version moves. Pass the modality at hand
    (loaded, with its schema_version) to spare the query that reads the version.
    Inside a pinned run (a resumed job), the rules it started with."""
    pinned = pinned_ruleset()
    if pinned is not None:
        return pinned
    return _current_site_rules(modality).ruleset


def site_detector(*, modality: Modality | None = None) -> AssertionDetector:
    """The assertion detector over the triggers admins maintain (HIST counted as
    negated): what every screen and run that shows or uses an assertion asks
    (weak labels, consistency checks, the review page, review sync, stage 2's
    evidence check). Cached per process, rebuilt when the rules' version moves,
    so an edited trigger applies on the next request without a restart. Pass the
    modality at hand (loaded, with its schema_version) to spare the version query.
    Inside a pinned run, over the triggers it started with."""
    pinned = pinned_ruleset()
    if pinned is not None:
        return _pinned_detector(pinned.triggers)
    return _current_site_rules(modality).detector


@functools.lru_cache(maxsize=4)
def _pinned_detector(triggers: tuple[Any, ...]) -> AssertionDetector:
    return AssertionDetector(triggers)


def site_rules_forget() -> None:
    """Drop the cached rules. Versions only move forward in one database; a test
    database rolled back between tests repeats them, so tests call this."""
    _site_rules.clear()


def key_value_rows(*, key: EntityKey) -> QuerySet[EntityValue]:
    return key.values.select_related("created_by").order_by("kind", "text")


def modality_key_summaries(*, modality: Modality) -> QuerySet[EntityKey]:
    return (
        EntityKey.objects.filter(entity_type__modality=modality)
        .select_related("entity_type")
        .annotate(value_count=Count("values"))
        .order_by("entity_type__order", "order", "name")
    )


# -- assignments -----------------------------------------------------------------------


def assignment_queue(*, user: Any, status: str = "", modality: str = "") -> QuerySet[Assignment]:
    """My assignments: open ones first (in progress, then to do), each group in
    queue rank order; submitted last, newest first. An open assignment of a
    superseded report is left out: its work moved to the new revision."""
    rows = (
        Assignment.objects.filter(annotator=user, kind=Assignment.Kind.ANNOTATION)
        .exclude(~Q(status=Assignment.Status.SUBMITTED), report__superseded_at__isnull=False)
        .select_related("report__modality")
        .defer("report__text")
        .annotate(mention_count=Count("mentions"))
    )
    if status:
        rows = rows.filter(status=status)
    if modality:
        rows = rows.filter(report__modality__code=modality)
    return rows.order_by(queue_status_order(), "rank", "id")


def queue_status_order() -> Any:
    """Sort key of a queue: in progress, then to do, then submitted."""
    return Case(
        When(status=Assignment.Status.IN_PROGRESS, then=Value(0)),
        When(status=Assignment.Status.TODO, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def assignment_next(*, user: Any, after: Assignment | None = None) -> Assignment | None:
    """The next open assignment of the user's queue (skipping `after`)."""
    rows = Assignment.objects.filter(
        annotator=user,
        kind=Assignment.Kind.ANNOTATION,
        status__in=[Assignment.Status.TODO, Assignment.Status.IN_PROGRESS],
        report__superseded_at__isnull=True,
    )
    if after is not None:
        rows = rows.exclude(pk=after.pk)
    return rows.order_by(queue_status_order(), "rank", "id").first()


@dataclass(frozen=True)
class QueuePosition:
    """Where an assignment stands in its annotator's queue, for "3 of 21" and the
    previous / next report keys."""

    number: int  # 1-based
    total: int
    submitted: int
    previous_id: int | None
    next_id: int | None


def assignment_position(*, user: Any, assignment: Assignment) -> QueuePosition | None:
    """The position of one of the user's own annotations in their queue, in rank
    order (the order an admin gave the queue), whatever each one's status: editing
    a report moves it from "to do" to "in progress", and a previous / next that
    followed status would jump around while the annotator walks the queue. None for
    someone else's version or an adjudication. One query."""
    if assignment.annotator_id != user.pk or assignment.kind != Assignment.Kind.ANNOTATION:
        return None
    rows = list(
        Assignment.objects.filter(annotator=user, kind=Assignment.Kind.ANNOTATION)
        .exclude(~Q(status=Assignment.Status.SUBMITTED), report__superseded_at__isnull=False)
        .order_by("rank", "id")
        .values_list("id", "status")
    )
    ids = [pk for pk, _ in rows]
    if assignment.pk not in ids:
        return None
    at = ids.index(assignment.pk)
    return QueuePosition(
        number=at + 1,
        total=len(ids),
        submitted=sum(1 for _, status in rows if status == Assignment.Status.SUBMITTED),
        previous_id=ids[at - 1] if at > 0 else None,
        next_id=ids[at + 1] if at + 1 < len(ids) else None,
    )


def assignment_mentions(*, assignment: Assignment) -> QuerySet[Mention]:
    return assignment.mentions.select_related("key__entity_type").order_by("start", "end", "id")


def assignment_relations(*, assignment: Assignment) -> QuerySet[Relation]:
    return assignment.relations.select_related("source_key", "target_key__entity_type").order_by("id")


def annotators() -> QuerySet[User]:
    """Active users who may annotate (superusers are not annotators by default)."""
    return (
        get_user_model()
        .objects.with_perm(PERM_ANNOTATE, include_superusers=False)
        .filter(is_active=True)
        .order_by("username")
    )


def double_annotated(*, modality: Modality) -> list[dict[str, Any]]:
    """Annotator pairs with the number of reports both submitted, most first."""
    rows = (
        Assignment.objects.filter(
            kind=Assignment.Kind.ANNOTATION, status=Assignment.Status.SUBMITTED, report__modality=modality
        )
        .order_by("report_id", "annotator_id")
        .values_list("report_id", "annotator_id")
    )
    by_report: dict[int, list[int]] = {}
    for report_id, annotator_id in rows:
        by_report.setdefault(report_id, []).append(annotator_id)
    pairs: dict[tuple[int, int], int] = {}
    for people in by_report.values():
        for i, a in enumerate(people):
            for b in people[i + 1 :]:
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
    users = get_user_model().objects.in_bulk({u for pair in pairs for u in pair})
    return [
        {"a": users[a], "b": users[b], "reports": n}
        for (a, b), n in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    ]


class AdjudicationCounts(TypedDict):
    annotations: int  # submitted annotations
    adjudications: int  # submitted adjudications


def reports_for_adjudication(*, modality: Modality) -> QuerySet[WithAnnotations[Report, AdjudicationCounts]]:
    """Reports with at least two submitted annotations, and whether they are adjudicated."""
    submitted = Q(assignments__status=Assignment.Status.SUBMITTED)
    return (
        Report.objects.filter(modality=modality)
        .annotate(
            annotations=Count(
                "assignments", filter=submitted & Q(assignments__kind=Assignment.Kind.ANNOTATION)
            ),
            adjudications=Count(
                "assignments", filter=submitted & Q(assignments__kind=Assignment.Kind.ADJUDICATION)
            ),
        )
        .filter(annotations__gte=2)
        .defer("text")
        .order_by("adjudications", "-study_datetime", "id")
    )


# -- weak labels ---------------------------------------------------------------------------


def weak_label_runs(*, limit: int = 10) -> list[Job]:
    return list(
        Job.objects.filter(kind=Job.Kind.WEAK_LABEL)
        .select_related("created_by")
        .defer("log")
        .order_by("-created_at")[:limit]
    )


def weak_label_comparison() -> list[dict[str, Any]]:
    """Per modality, the latest successful weak-labelling run's evaluation against
    gold: one row per key with each mode's precision, recall and F1."""
    out = []
    done = Job.objects.filter(kind=Job.Kind.WEAK_LABEL, status=Job.Status.SUCCEEDED).order_by(
        "-finished_at", "-id"
    )
    for modality in Modality.objects.all():
        job = next(
            (j for j in done.only("id", "result", "finished_at")[:20] if modality.code in j.result), None
        )
        if job is None:
            continue
        run = job.result[modality.code]
        modes = list(run["evaluation"])
        names = list(next(iter(run["evaluation"].values()))["keys"]) if modes else []
        rows = []
        for name in names:
            per_mode = [run["evaluation"][mode]["keys"][name] for mode in modes]
            rows.append({"key": name, "gold": per_mode[0]["tp"] + per_mode[0]["fn"], "modes": per_mode})
        micro = [run["evaluation"][mode]["micro"] for mode in modes]
        out.append(
            {"modality": modality, "job": job, "run": run, "modes": modes, "rows": rows, "micro": micro}
        )
    return out

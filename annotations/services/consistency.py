"""Consistency checks on one annotator's version of a report, shown while
annotating and before submit (submitting with issues needs a confirmation).

* a key used as a pair source (so: present) whose mentions are all negated;
* a pair whose finding mention is negated;
* a pair on a key whose location is implicit (pleural effusion / thickening) or
  that takes no pairs;
* "no findings" flagged while a finding is marked present or uncertain
  (negated mentions are normal in a normal report: "No pleural effusion.");
* a mention marked present that the negation rules read as negated ("No
  nodule."), as a hint: the rules are not always right;
* before submit: no finding marked present and "no findings" not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

from annotations.models import Assignment, EntityType, Mention, Relation
from annotations.selectors import site_detector
from inference.ml.text.assertion import NEGATED

FINDING_ROLES = (EntityType.Role.FINDING, EntityType.Role.DETAIL)


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    mention_ids: tuple[int, ...] = ()


def assignment_issues(
    *,
    assignment: Assignment,
    mentions: list[Mention] | None = None,
    relations: list[Relation] | None = None,
    before_submit: bool = False,
) -> list[Issue]:
    """Pass `mentions` (with key__entity_type) and `relations` when the caller has
    loaded them already; otherwise they are read here."""
    if mentions is None:
        mentions = list(assignment.mentions.select_related("key__entity_type").order_by("start", "end", "id"))
    if relations is None:
        relations = list(assignment.relations.select_related("source_key", "target_key").order_by("id"))
    text = assignment.report.text
    issues: list[Issue] = []
    issues += _pairs(mentions, relations)
    present = [m for m in mentions if m.key.entity_type.role in FINDING_ROLES and not m.negated]
    if assignment.no_findings and present:
        names = ", ".join(dict.fromkeys(m.key.name for m in present))
        issues.append(
            Issue(
                "no_findings_with_mentions",
                f'Flagged "no findings" but marks {names} present or uncertain.',
                tuple(m.pk for m in present),
            )
        )
    issues += _reads_negated(text, mentions)
    if before_submit and not present and not assignment.no_findings:
        issues.append(
            Issue("findings_missing", 'No finding is marked present: flag the report "no findings"?')
        )
    return issues


def _pairs(mentions: list[Mention], relations: list[Relation]) -> list[Issue]:
    issues = []
    by_id = {m.pk: m for m in mentions}
    for relation in relations:
        source_key = relation.source_key
        label = f"{source_key.name} → {relation.target_key.name}"
        if source_key.pairs_with_id is None:
            why = "its location is implicit" if source_key.implicit_location_id else "it takes no pairs"
            issues.append(
                Issue("implicit_pair", f"Pair {label}: {source_key.name} is not pair-matched ({why}).")
            )
        source = by_id.get(relation.source_mention_id or 0)
        if source is not None and source.negated:
            issues.append(
                Issue(
                    "negated_pair_source",
                    f"Pair {label}: the {source_key.name} mention is negated.",
                    (source.pk,),
                )
            )
    paired_keys = {r.source_key_id for r in relations}
    for key_id in sorted(paired_keys):
        of_key = [m for m in mentions if m.key_id == key_id]
        if of_key and all(m.negated for m in of_key):
            name = of_key[0].key.name
            issues.append(
                Issue(
                    "present_key_only_negated",
                    f"{name} has pairs (so it is present) but all its mentions are negated.",
                    tuple(m.pk for m in of_key),
                )
            )
    return issues


def _reads_negated(text: str, mentions: list[Mention]) -> list[Issue]:
    candidates = [m for m in mentions if not m.negated and m.key.entity_type.role in FINDING_ROLES]
    if not candidates:
        return []
    # The negation rules admins maintain on the rules page, rebuilt when they change.
    statuses = site_detector().statuses(text, [(m.start, m.end) for m in candidates])
    return [
        Issue(
            "reads_negated",
            f"“{text[m.start : m.end]}” ({m.key.name}) reads as negated here: mark it negated?",
            (m.pk,),
        )
        for m, status in zip(candidates, statuses, strict=True)
        if status == NEGATED
    ]

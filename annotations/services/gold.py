"""Load gold labels from a gold file (docs/gold-files.md) onto reports already imported.

Each line names a report by "id" (its external id within `source`). For every
line the report gets one Assignment of kind IMPORTED, status SUBMITTED, owned by
`annotator`, with:

* Mention rows from "mentions" (key names looked up in the report's modality;
  offsets are code points into Report.text and must cut out the recorded "text");
* Relation rows from "pairs" (finding mention -> location / episode mentions),
  with both mentions set. A line without "mentions" gets key-level relations
  from its "gold" summary instead (lesion -> locations, diagnosis -> episode);
* no_findings set when "gold" has no key present or uncertain.

Loading is all or nothing (one transaction) and idempotent: loading again
replaces the annotator's IMPORTED assignment of each report, so its mentions and
relations are never duplicated. Errors are ValueErrors naming the line; like the
importer's, they never quote report text. The file is read by the one gold-file
reader, inference.ml.gold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from annotations.models import Assignment, EntityKey, EntityType, Mention, Relation, Report
from inference.ml.gold import gold_lines

BATCH_LINES = 500
Fail = Callable[[str], ValueError]
STATUSES = frozenset({"present", "negated", "uncertain"})


@dataclass(frozen=True, slots=True)
class GoldLoadResult:
    reports: int  # assignments created, one per line
    replaced: int  # earlier IMPORTED assignments of the same annotator that were replaced
    mentions: int
    relations: int
    no_findings: int


@dataclass(frozen=True, slots=True)
class _KeyInfo:
    id: int
    role: str
    type_id: int
    pairs_with_id: int | None


@dataclass(slots=True)
class _GoldLine:
    """One checked line, ready to write."""

    report: Report
    no_findings: bool
    mentions: list[tuple[int, int, int, bool, bool]]  # key id, start, end, negated, uncertain
    relations: list[tuple[int, int, int | None, int | None]]  # source key, target key, mention indexes


def gold_load(*, path: Path, source: str, annotator: User) -> GoldLoadResult:
    """Create the IMPORTED assignments of `annotator` for every line of the gold file at `path`."""
    keys = _keys_by_modality()
    totals = [0, 0, 0, 0, 0]
    seen: dict[str, int] = {}  # external id -> line: one assignment per report and file
    submitted_at = timezone.now()
    with transaction.atomic():
        for batch in _batches(_lines(path), BATCH_LINES):
            reports = _reports_for(batch, source=source)
            checked = [_line_check(n, rec, reports, keys, seen, source) for n, rec in batch]
            counts = _batch_write(checked, annotator=annotator, submitted_at=submitted_at)
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
    return GoldLoadResult(*totals)


# -- reading -------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # Nothing is required of a line here: "gold" may be left out when "mentions" are given.
    with path.open("rb") as fh:
        for line in gold_lines(fh, require=()):
            yield line.number, line.record


def _batches(
    lines: Iterator[tuple[int, dict[str, Any]]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    batch: list[tuple[int, dict[str, Any]]] = []
    for item in lines:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _keys_by_modality() -> dict[str, dict[str, _KeyInfo]]:
    out: dict[str, dict[str, _KeyInfo]] = {}
    rows = EntityKey.objects.values_list(
        "id", "name", "entity_type_id", "entity_type__role", "entity_type__modality__code", "pairs_with_id"
    )
    for key_id, name, type_id, role, modality, pairs_with_id in rows:
        out.setdefault(modality, {})[name] = _KeyInfo(key_id, role, type_id, pairs_with_id)
    return out


def _external_id(number: int, record: dict[str, Any]) -> str:
    value = record.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"line {number}: missing id")
    return value.strip()


def _reports_for(batch: list[tuple[int, dict[str, Any]]], *, source: str) -> dict[str, Report]:
    ids = [_external_id(n, rec) for n, rec in batch]
    rows = Report.objects.current().filter(source=source, external_id__in=ids).select_related("modality")
    return {r.external_id: r for r in rows.only("id", "external_id", "text", "modality__code")}


# -- checking ------------------------------------------------------------------------


def _line_check(
    number: int,
    record: dict[str, Any],
    reports: dict[str, Report],
    keys: dict[str, dict[str, _KeyInfo]],
    seen: dict[str, int],
    source: str,
) -> _GoldLine:
    """Validate one line against its report and the schema; raise ValueError naming the line."""

    def fail(message: str) -> ValueError:
        return ValueError(f"line {number}: {message}")

    external_id = _external_id(number, record)
    first = seen.setdefault(external_id, number)
    if first != number:
        raise fail(f"id {external_id!r} already appears on line {first}")
    report = reports.get(external_id)
    if report is None:
        raise fail(
            f"no imported report with id {external_id!r} in source {source!r}; import the reports first"
        )
    modality = report.modality.code
    if record.get("modality", modality) != modality:
        raise fail(f"modality {record.get('modality')!r} differs from the imported report's {modality!r}")
    if "text" in record and record["text"] != report.text:
        raise fail("text differs from the imported report's text")
    schema = keys.get(modality, {})
    gold = record.get("gold")  # an object or absent (the reader checked)
    gold_relations = _gold_check(gold or {}, schema, fail)
    if "mentions" in record:
        mentions = _mentions_check(record["mentions"], report.text, schema, fail)
        relations = _pairs_check(record.get("pairs") or [], mentions, schema, fail)
    else:
        mentions, relations = [], gold_relations
    if gold is not None:
        no_findings = not any(_entries(gold))
    else:
        findings = {k.id for k in schema.values() if k.role == EntityType.Role.FINDING}
        no_findings = not any(m[0] in findings and not m[3] for m in mentions)
    return _GoldLine(report, no_findings, mentions, relations)


def _key(schema: dict[str, _KeyInfo], name: object, fail: Fail, *roles: str) -> _KeyInfo:
    info = schema.get(name) if isinstance(name, str) else None
    if info is None:
        raise fail(f"unknown key {name!r} for this modality")
    if roles and info.role not in roles:
        raise fail(f"key {name!r} is a {info.role} key, expected {' or '.join(roles)}")
    return info


def _entries(gold: dict[str, Any]) -> list[str]:
    """Names of the gold keys that are present or uncertain (the report's findings)."""
    entries = {**(gold.get("lesions") or {}), **(gold.get("diagnoses") or {})}
    return [name for name, entry in entries.items() if entry.get("status") != "negated"]


def _gold_check(
    gold: dict[str, Any], schema: dict[str, _KeyInfo], fail: Fail
) -> list[tuple[int, int, int | None, int | None]]:
    """Check the summary's key names and statuses; return its key-level pairs (no
    mention indexes: the summary names keys, not spans)."""
    relations: list[tuple[int, int, int | None, int | None]] = []
    finding = EntityType.Role.FINDING
    for group, targets_field in (("lesions", "locations"), ("diagnoses", "episode")):
        entries = gold.get(group) or {}
        if not isinstance(entries, dict):
            raise fail(f'"gold.{group}" must be an object')
        for name, entry in entries.items():
            source = _key(schema, name, fail, finding)
            if not isinstance(entry, dict) or entry.get("status") not in STATUSES:
                raise fail(f"gold {name!r}: status must be one of {sorted(STATUSES)}")
            targets = entry.get(targets_field) or []
            for target_name in [targets] if isinstance(targets, str) else targets:
                target = _key(schema, target_name, fail, EntityType.Role.LOCATION, EntityType.Role.EPISODE)
                _pair_allowed(source, target, name, target_name, fail)
                if (source.id, target.id, None, None) not in relations:
                    relations.append((source.id, target.id, None, None))
    for name in gold.get("non_tumor") or []:
        _key(schema, name, fail, EntityType.Role.DETAIL)
    return relations


def _pair_allowed(
    source: _KeyInfo, target: _KeyInfo, source_name: object, target_name: object, fail: Fail
) -> None:
    if source.pairs_with_id is None or source.pairs_with_id != target.type_id:
        raise fail(f"{source_name!r} cannot be paired with {target_name!r}")


def _mentions_check(
    raw: object, text: str, schema: dict[str, _KeyInfo], fail: Fail
) -> list[tuple[int, int, int, bool, bool]]:
    if not isinstance(raw, list):
        raise fail('"mentions" must be a list')
    out: list[tuple[int, int, int, bool, bool]] = []
    spans: set[tuple[int, int, int]] = set()
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise fail(f"mention {i} must be an object")
        key = _key(schema, m.get("key"), fail)
        start, end = m.get("start"), m.get("end")
        if type(start) is not int or type(end) is not int or not 0 <= start < end <= len(text):
            raise fail(f"mention {i} ({m.get('key')!r}): offsets [{start}:{end}] are outside the report text")
        if "text" in m and text[start:end] != m["text"]:
            raise fail(
                f"mention {i} ({m.get('key')!r}): text[{start}:{end}] is not the recorded mention text"
            )
        if (key.id, start, end) in spans:
            raise fail(f"mention {i} ({m.get('key')!r}): the same span is given twice")
        spans.add((key.id, start, end))
        out.append((key.id, start, end, bool(m.get("negated", False)), bool(m.get("uncertain", False))))
    return out


def _pairs_check(
    raw: object, mentions: list[tuple[int, int, int, bool, bool]], schema: dict[str, _KeyInfo], fail: Fail
) -> list[tuple[int, int, int | None, int | None]]:
    if not isinstance(raw, list):
        raise fail('"pairs" must be a list')
    by_id = {info.id: (name, info) for name, info in schema.items()}
    relations: list[tuple[int, int, int | None, int | None]] = []
    taken: set[tuple[int, int]] = set()  # (source mention, target key): the database allows one
    for pair in raw:
        source_i = pair.get("source") if isinstance(pair, dict) else None
        targets = pair.get("targets") if isinstance(pair, dict) else None
        if type(source_i) is not int or not 0 <= source_i < len(mentions) or not isinstance(targets, list):
            raise fail(f"pair {pair!r}: source must be a mention index and targets a list of them")
        source_name, source = by_id[mentions[source_i][0]]
        for target_i in targets:
            if type(target_i) is not int or not 0 <= target_i < len(mentions):
                raise fail(f"pair {pair!r}: target {target_i!r} is not a mention index")
            target_name, target = by_id[mentions[target_i][0]]
            _pair_allowed(source, target, source_name, target_name, fail)
            if (source_i, target.id) not in taken:
                taken.add((source_i, target.id))
                relations.append((source.id, target.id, source_i, target_i))
    return relations


# -- writing -------------------------------------------------------------------------


def _batch_write(lines: list[_GoldLine], *, annotator: User, submitted_at: datetime) -> list[int]:
    """Replace the annotator's IMPORTED assignments of these reports; return the five counts."""
    replaced = _imported_delete(lines, annotator=annotator)
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(
                report=line.report,
                annotator=annotator,
                kind=Assignment.Kind.IMPORTED,
                status=Assignment.Status.SUBMITTED,
                no_findings=line.no_findings,
                submitted_at=submitted_at,
            )
            for line in lines
        ]
    )
    # PostgreSQL and SQLite >= 3.35 return the new primary keys from bulk_create.
    if assignments and assignments[0].pk is None:
        raise RuntimeError("gold_load needs a database that returns ids from bulk inserts")
    mentions = _mentions_create(lines, assignments, annotator=annotator)
    relations = _relations_create(lines, assignments, mentions, annotator=annotator)
    no_findings = sum(line.no_findings for line in lines)
    return [len(lines), replaced, len(mentions), relations, no_findings]


def _imported_delete(lines: list[_GoldLine], *, annotator: User) -> int:
    """Delete earlier IMPORTED assignments of `annotator` for these reports (with their spans)."""
    old = Assignment.objects.filter(
        report_id__in=[line.report.pk for line in lines], annotator=annotator, kind=Assignment.Kind.IMPORTED
    )
    return old.delete()[1].get(Assignment._meta.label, 0)


def _mentions_create(
    lines: list[_GoldLine], assignments: list[Assignment], *, annotator: User
) -> list[Mention]:
    rows = [
        Mention(
            report_id=line.report.pk,
            assignment_id=assignment.pk,
            key_id=key_id,
            start=start,
            end=end,
            negated=negated,
            uncertain=uncertain,
            created_by=annotator,
        )
        for line, assignment in zip(lines, assignments, strict=True)
        for key_id, start, end, negated, uncertain in line.mentions
    ]
    return Mention.objects.bulk_create(rows, batch_size=2000)


def _relations_create(
    lines: list[_GoldLine],
    assignments: list[Assignment],
    mentions: list[Mention],
    *,
    annotator: User,
) -> int:
    """Create the relations; a line's mention indexes are offsets into its slice of `mentions`."""
    rows = []
    offset = 0
    for line, assignment in zip(lines, assignments, strict=True):
        for source_key, target_key, source_i, target_i in line.relations:
            rows.append(
                Relation(
                    report_id=line.report.pk,
                    assignment_id=assignment.pk,
                    source_key_id=source_key,
                    target_key_id=target_key,
                    source_mention_id=None if source_i is None else mentions[offset + source_i].pk,
                    target_mention_id=None if target_i is None else mentions[offset + target_i].pk,
                    created_by=annotator,
                )
            )
        offset += len(line.mentions)
    Relation.objects.bulk_create(rows, batch_size=2000)
    return len(rows)

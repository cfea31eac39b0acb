"""Load gold labels from a gold file (docs/gold-files.md) onto reports already imported.

Each line names a report by "id" (its external id within `source`). For every
line the report gets one Assignment of kind IMPORTED, status SUBMITTED, owned by
`annotator`, with:

* Mention rows from "mentions" (key names looked up in the report's modality;
  offsets are code points into Report.text and must cut out the recorded "text");
* Relation rows from "pairs" (finding mention -> location / episode mentions),
  with both mentions set. A line without "mentions" gets key-level relations
  from its "gold" summary instead (lesion -> locations, diagnosis -> episode);
* GoldKeyLabel rows from the "gold" summary: each key's report-level status
  (an entry's `"uncertain": true` makes a present key uncertain), so a line without
  spans still says what the report holds;
* no_findings set when "gold" has no key present or uncertain.

Loading is all or nothing (one transaction) and idempotent: loading again
replaces the annotator's IMPORTED assignment of each report, so its mentions and
relations are never duplicated. Errors are GoldLineErrors (ValueErrors) naming the
line and the field; like the importer's, they never quote report text. The file is
read by the one gold-file reader, inference.ml.gold. The label import
(services.label_import) checks lines with the same functions and collects every
line's problem instead of stopping at the first.
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

from annotations.models import Assignment, EntityKey, EntityType, GoldKeyLabel, Mention, Relation, Report
from inference.ml.gold import gold_lines

BATCH_LINES = 500
STATUSES = frozenset({"present", "negated", "uncertain"})


class GoldLineError(ValueError):
    """One line's problem: str() is "line N: message"; `field` names the part of the line."""

    def __init__(self, line: int, message: str, *, field: str = "gold") -> None:
        super().__init__(f"line {line}: {message}")
        self.line, self.field, self.message = line, field, message


Fail = Callable[..., GoldLineError]  # (message, field="gold")


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
    key_labels: dict[int, str]  # key id -> report-level status (the "gold" summary, a CSV row)


def gold_load(*, path: Path, source: str, annotator: User) -> GoldLoadResult:
    """Create the IMPORTED assignments of `annotator` for every line of the gold file at `path`."""
    keys = keys_by_modality()
    totals = [0, 0, 0, 0, 0]
    seen: dict[str, int] = {}  # external id -> line: one assignment per report and file
    submitted_at = timezone.now()
    with transaction.atomic():
        for batch in _batches(_lines(path), BATCH_LINES):
            reports = reports_for(batch, source=source)
            checked = [line_check(n, rec, reports, keys, seen, source) for n, rec in batch]
            counts = batch_write(checked, annotator=annotator, submitted_at=submitted_at)
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


def keys_by_modality() -> dict[str, dict[str, _KeyInfo]]:
    out: dict[str, dict[str, _KeyInfo]] = {}
    rows = EntityKey.objects.values_list(
        "id", "name", "entity_type_id", "entity_type__role", "entity_type__modality__code", "pairs_with_id"
    )
    for key_id, name, type_id, role, modality, pairs_with_id in rows:
        out.setdefault(modality, {})[name] = _KeyInfo(key_id, role, type_id, pairs_with_id)
    return out


def external_id_of(number: int, record: dict[str, Any]) -> str:
    value = record.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise GoldLineError(number, "missing id", field="id")
    return value.strip()


def reports_for(batch: list[tuple[int, dict[str, Any]]], *, source: str) -> dict[str, Report]:
    """The current reports of `source` the batch's lines name (lines without an id are
    left for the line check to report)."""
    ids = []
    for n, rec in batch:
        try:
            ids.append(external_id_of(n, rec))
        except GoldLineError:
            continue
    rows = Report.objects.current().filter(source=source, external_id__in=ids).select_related("modality")
    return {r.external_id: r for r in rows.only("id", "external_id", "text", "modality__code")}


# -- checking ------------------------------------------------------------------------


def line_report(
    number: int, record: dict[str, Any], reports: dict[str, Report], seen: dict[str, int], source: str
) -> Report:
    """The imported report a line names, once per file; GoldLineError otherwise."""
    external_id = external_id_of(number, record)
    first = seen.setdefault(external_id, number)
    if first != number:
        raise GoldLineError(number, f"id {external_id!r} already appears on line {first}", field="id")
    report = reports.get(external_id)
    if report is None:
        message = f"no imported report with id {external_id!r} in source {source!r}; import the reports first"
        raise GoldLineError(number, message, field="id")
    modality = report.modality.code
    if record.get("modality", modality) != modality:
        message = f"modality {record.get('modality')!r} differs from the imported report's {modality!r}"
        raise GoldLineError(number, message, field="modality")
    return report


def line_check(
    number: int,
    record: dict[str, Any],
    reports: dict[str, Report],
    keys: dict[str, dict[str, _KeyInfo]],
    seen: dict[str, int],
    source: str,
) -> _GoldLine:
    """Validate one line against its report and the schema; raise GoldLineError naming the line."""

    def fail(message: str, field: str = "gold") -> GoldLineError:
        return GoldLineError(number, message, field=field)

    report = line_report(number, record, reports, seen, source)
    modality = report.modality.code
    if "text" in record and record["text"] != report.text:
        raise fail("text differs from the imported report's text", "text")
    schema = keys.get(modality, {})
    gold = record.get("gold")  # an object or absent (the reader checked)
    gold_relations, key_labels = _gold_check(gold or {}, schema, fail)
    if "mentions" in record:
        mentions = _mentions_check(record["mentions"], report.text, schema, partial_field(fail, "mentions"))
        relations = _pairs_check(record.get("pairs") or [], mentions, schema, partial_field(fail, "pairs"))
    else:
        mentions, relations = [], gold_relations
    if gold is not None:
        no_findings = not any(_entries(gold))
    else:
        findings = {k.id for k in schema.values() if k.role == EntityType.Role.FINDING}
        no_findings = not any(m[0] in findings and not m[3] for m in mentions)
    return _GoldLine(report, no_findings, mentions, relations, key_labels)


def partial_field(fail: Fail, field: str) -> Fail:
    """`fail` with another default field (mentions, pairs)."""

    def inner(message: str, field_: str = field) -> GoldLineError:
        return fail(message, field_)

    return inner


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
) -> tuple[list[tuple[int, int, int | None, int | None]], dict[int, str]]:
    """Check the summary's key names and statuses; return its key-level pairs (no
    mention indexes: the summary names keys, not spans) and each key's status."""
    relations: list[tuple[int, int, int | None, int | None]] = []
    statuses: dict[int, str] = {}
    finding = EntityType.Role.FINDING
    for group, targets_field in (("lesions", "locations"), ("diagnoses", "episode")):
        entries = gold.get(group) or {}
        if not isinstance(entries, dict):
            raise fail(f'"gold.{group}" must be an object')
        for name, entry in entries.items():
            source = _key(schema, name, fail, finding)
            if not isinstance(entry, dict) or entry.get("status") not in STATUSES:
                raise fail(f"gold {name!r}: status must be one of {sorted(STATUSES)}")
            statuses[source.id] = _entry_status(name, entry, fail)
            targets = entry.get(targets_field) or []
            for target_name in [targets] if isinstance(targets, str) else targets:
                target = _key(schema, target_name, fail, EntityType.Role.LOCATION, EntityType.Role.EPISODE)
                _pair_allowed(source, target, name, target_name, fail)
                if (source.id, target.id, None, None) not in relations:
                    relations.append((source.id, target.id, None, None))
    non_tumor = gold.get("non_tumor") or []
    if not isinstance(non_tumor, list):
        raise fail('"gold.non_tumor" must be a list of key names')
    for name in non_tumor:
        statuses[_key(schema, name, fail, EntityType.Role.DETAIL).id] = "present"
    return relations, statuses


def _entry_status(name: str, entry: dict[str, Any], fail: Fail) -> str:
    """An entry's status; `"uncertain": true` on a present key (the hedged-finding flag
    some label sets carry instead of the status) makes it uncertain."""
    status = str(entry["status"])
    flag = entry.get("uncertain", False)
    if not isinstance(flag, bool):
        raise fail(f"gold {name!r}: uncertain must be true or false")
    if flag and status == "negated":
        raise fail(f"gold {name!r}: a negated finding cannot be uncertain (docs/gold-files.md)")
    return "uncertain" if flag else status


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


def batch_write(
    lines: list[_GoldLine],
    *,
    annotator: User,
    submitted_at: datetime,
    label_source: str = "",
    import_job_id: int | None = None,
    replace_any: bool = False,
) -> list[int]:
    """Replace the annotator's IMPORTED assignments of these reports (with `replace_any`,
    anyone's: a report keeps one imported gold version); return the five counts."""
    replaced = _imported_delete(lines, annotator=None if replace_any else annotator)
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(
                report=line.report,
                annotator=annotator,
                kind=Assignment.Kind.IMPORTED,
                status=Assignment.Status.SUBMITTED,
                no_findings=line.no_findings,
                submitted_at=submitted_at,
                label_source=label_source,
                import_job_id=import_job_id,
            )
            for line in lines
        ]
    )
    # PostgreSQL and SQLite >= 3.35 return the new primary keys from bulk_create.
    if assignments and assignments[0].pk is None:
        raise RuntimeError("gold_load needs a database that returns ids from bulk inserts")
    mentions = _mentions_create(lines, assignments, annotator=annotator)
    relations = _relations_create(lines, assignments, mentions, annotator=annotator)
    GoldKeyLabel.objects.bulk_create(
        [
            GoldKeyLabel(assignment_id=assignment.pk, key_id=key_id, status=status)
            for line, assignment in zip(lines, assignments, strict=True)
            for key_id, status in line.key_labels.items()
        ],
        batch_size=2000,
    )
    no_findings = sum(line.no_findings for line in lines)
    return [len(lines), replaced, len(mentions), relations, no_findings]


def _imported_delete(lines: list[_GoldLine], *, annotator: User | None) -> int:
    """Delete earlier IMPORTED assignments of `annotator` (None: of anyone) for these
    reports, with their spans and key labels."""
    old = Assignment.objects.filter(
        report_id__in=[line.report.pk for line in lines], kind=Assignment.Kind.IMPORTED
    )
    if annotator is not None:
        old = old.filter(annotator=annotator)
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

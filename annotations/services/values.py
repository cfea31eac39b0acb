"""Entity values (keywords and regexes): create, edit, delete, learn from a
mention, count and preview matches.

Every change bumps the modality's schema_version, which weak labels and models
record and which invalidates the cached matcher (selectors.modality_matcher).
Regexes are validated with inference.ml.text.matcher.regex_error, so a bad pattern is a
ValidationError with a message, never an exception from `re`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotations import selectors
from annotations.models import EntityKey, EntityValue, Modality, Report
from inference.ml.text.matcher import KEYWORD, REGEX, LayeredMatcher, Matcher, Value, regex_error
from inference.ml.text.patterns import fold, phrase_key
from radreview.conflict import CONFLICT

COUNT_BATCH = 2000
PREVIEW_EXAMPLES = 20
PREVIEW_SCAN_LIMIT = 20_000  # reports scanned, newest first, for a preview
SNIPPET_CONTEXT = 40


def schema_version_bump(*, modality_id: int) -> None:
    Modality.objects.filter(pk=modality_id).update(schema_version=F("schema_version") + 1)


def _modality_id(key: EntityKey) -> int:
    return EntityKey.objects.filter(pk=key.pk).values_list("entity_type__modality_id", flat=True).get()


def entity_value_check(*, key: EntityKey, text: str, kind: str, exclude_id: int | None = None) -> str:
    """The cleaned text, or ValidationError naming the problem."""
    cleaned = " ".join(text.split()) if kind == KEYWORD else text.strip()
    if not cleaned:
        raise ValidationError({"text": "Enter a keyword or a pattern."})
    if len(cleaned) > 300:
        raise ValidationError({"text": "At most 300 characters."})
    if kind == REGEX:
        problem = regex_error(cleaned)
        if problem:
            raise ValidationError({"text": f"Invalid regular expression: {problem}"})
    elif kind != KEYWORD:
        raise ValidationError({"kind": "Kind must be keyword or regex."})
    others = EntityValue.objects.filter(key=key, kind=kind)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    wanted = phrase_key(cleaned) if kind == KEYWORD else cleaned
    for other in others.values_list("text", flat=True):
        if (phrase_key(other) if kind == KEYWORD else other) == wanted:
            raise ValidationError(
                {"text": ValidationError(f"{key.name} already has the {kind} {other!r}.", code=CONFLICT)}
            )
    return cleaned


@transaction.atomic
def entity_value_create(
    *,
    key: EntityKey,
    text: str,
    kind: str = KEYWORD,
    case_sensitive: bool = False,
    user: Any = None,
    count: bool = True,
) -> EntityValue:
    cleaned = entity_value_check(key=key, text=text, kind=kind)
    value = EntityValue.objects.create(
        key=key, text=cleaned, kind=kind, case_sensitive=case_sensitive, created_by=user
    )
    schema_version_bump(modality_id=_modality_id(key))
    if count:
        entity_value_count(value=value)
    return value


@transaction.atomic
def entity_value_update(
    *, value: EntityValue, text: str, kind: str, case_sensitive: bool = False, count: bool = True
) -> EntityValue:
    cleaned = entity_value_check(key=value.key, text=text, kind=kind, exclude_id=value.pk)
    value.text, value.kind, value.case_sensitive = cleaned, kind, case_sensitive
    value.report_count = value.counted_at = None
    value.save(update_fields=["text", "kind", "case_sensitive", "report_count", "counted_at"])
    schema_version_bump(modality_id=_modality_id(value.key))
    if count:
        entity_value_count(value=value)
    return value


@transaction.atomic
def entity_value_delete(*, value: EntityValue) -> None:
    modality_id = _modality_id(value.key)
    value.delete()
    schema_version_bump(modality_id=modality_id)


def value_text_from_span(surface: str) -> str:
    """The keyword to store for a selected span: whitespace collapsed; a capital
    that only starts a sentence ("Micronodules") lowered, abbreviations ("GGO",
    "Lt.") kept as written."""
    text = " ".join(surface.split())
    if len(text) > 1 and text[0].isupper() and text[1:] == text[1:].lower():
        return text[0].lower() + text[1:]
    return text


def entity_value_learn(*, key: EntityKey, surface: str, user: Any, modality: Modality) -> EntityValue | None:
    """Make the text of a new mention an entity value of its key (of `modality`),
    unless a value of the key already expresses exactly that text. Not counted
    here: counting scans the corpus, and a mention save must stay fast (the
    manager and every weak-labelling run count it)."""
    text = value_text_from_span(surface)
    if not text or len(text) > 300:
        return None
    # Fast path, nothing to compile: the cached lexicon of the modality covers it.
    if _covers(selectors.modality_matcher(modality=modality), surface, key.pk):
        return None
    # The cached lexicon matches longest-first, so a value of this key can hide
    # behind another key's value; check this key's values on their own.
    values = [
        Value(key=key.pk, text=v.text, kind=v.kind, case_sensitive=v.case_sensitive) for v in key.values.all()
    ]
    if values and _covers(Matcher(values), surface, key.pk):
        return None
    try:
        return entity_value_create(key=key, text=text, kind=KEYWORD, user=user, count=False)
    except ValidationError:
        return None  # already there in another spelling


def _covers(matcher: Matcher | LayeredMatcher, surface: str, key_id: int) -> bool:
    """Whether a value of the key matches exactly the whole surface."""
    return any(m.start == 0 and m.end == len(surface) and key_id in m.keys for m in matcher.find(surface))


# -- counting and preview ----------------------------------------------------------------


def _texts(
    modality_id: int, *, newest_first: bool = False, limit: int | None = None
) -> Iterator[tuple[int, str]]:
    rows = Report.objects.filter(modality_id=modality_id)
    rows = rows.order_by("-study_datetime", "-id") if newest_first else rows.order_by("id")
    if limit is not None:
        rows = rows[:limit]
    yield from rows.values_list("id", "text").iterator(chunk_size=COUNT_BATCH)


def _candidates(value: EntityValue | Value, modality_id: int) -> Iterator[tuple[int, str]]:
    """Reports that may contain the value: for a keyword, those whose text contains
    its longest word (a database LIKE, case-insensitive for ASCII), confirmed in
    Python; for a regex, all of them."""
    if value.kind == KEYWORD:
        longest = max(value.text.split(), key=len)
        rows = Report.objects.filter(modality_id=modality_id, text__icontains=longest).order_by("id")
        yield from rows.values_list("id", "text").iterator(chunk_size=COUNT_BATCH)
    else:
        yield from _texts(modality_id)


def _as_value(value: EntityValue) -> Value:
    return Value(
        key=value.key_id, text=value.text, kind=value.kind, case_sensitive=value.case_sensitive, id=value.pk
    )


def entity_value_count(*, value: EntityValue) -> int:
    """Count the reports of the value's modality that the value matches on its own,
    and store the count on the value."""
    modality_id = _modality_id(value.key)
    matcher = Matcher([_as_value(value)])
    count = sum(1 for _, text in _candidates(value, modality_id) if matcher.find(text))
    now = timezone.now()
    EntityValue.objects.filter(pk=value.pk).update(report_count=count, counted_at=now)
    value.report_count, value.counted_at = count, now
    return count


class ValueCounter:
    """entity_value_count's counts of many values over texts the caller already holds (a
    weak-label chunk's): the same test per text, a lower-cased containment of the keyword's
    longest word (what the database's case-insensitive LIKE narrowed) confirmed by the
    value's own matcher. In Python on the worker: the LIKE scans, one per value over every
    report, were most of the database's work in a weak-labelling job, and ran after its
    chunks on one core."""

    def __init__(self, values: Iterable[EntityValue]) -> None:
        self.values = [(v.pk, _longest_word(v), Matcher([_as_value(v)])) for v in values]

    def count(self, texts: Sequence[str]) -> dict[int, int]:
        """value id -> how many of `texts` it matches on its own (every value, 0 included)."""
        lowered = [t.lower() for t in texts]
        folded: list[str | None] = [None] * len(texts)
        out = {}
        for pk, word, matcher in self.values:
            n = 0
            for i, text in enumerate(texts):
                if word is not None and word not in lowered[i]:
                    continue
                f = folded[i]
                if f is None:
                    f = folded[i] = fold(text)
                n += bool(matcher.find(text, f))
            out[pk] = n
        return out


def _longest_word(value: EntityValue) -> str | None:
    """A keyword's narrowing word, lower-cased (_candidates' LIKE); None for a regex."""
    if value.kind != KEYWORD:
        return None
    return max(value.text.split() or [""], key=len).lower()


def entity_value_counts_store(*, values: Sequence[EntityValue], counts: dict[int, int]) -> None:
    """Store counts computed elsewhere (ValueCounter's, added up) on the values, in one query."""
    now = timezone.now()
    for value in values:
        value.report_count, value.counted_at = counts[value.pk], now
    EntityValue.objects.bulk_update(values, ["report_count", "counted_at"])


@dataclass(frozen=True)
class PreviewHit:
    report_id: int
    before: str
    match: str
    after: str


@dataclass(frozen=True)
class Preview:
    hits: list[PreviewHit]
    matched: int  # reports with a match among those scanned
    scanned: int
    complete: bool  # every report of the modality was scanned


def entity_value_preview(
    *, modality: Modality, text: str, kind: str, case_sensitive: bool = False
) -> Preview:
    """Where a candidate value would match: up to PREVIEW_EXAMPLES snippets from the
    newest PREVIEW_SCAN_LIMIT reports (none for no text, whatever the kind).
    Raises ValidationError for a bad regex."""
    if not text.strip():
        return Preview([], 0, 0, True)
    if kind == REGEX and regex_error(text.strip()):
        raise ValidationError({"text": f"Invalid regular expression: {regex_error(text.strip())}"})
    candidate = Value(
        key=0,
        text=text.strip() if kind == REGEX else " ".join(text.split()),
        kind=kind,
        case_sensitive=case_sensitive,
    )
    if not candidate.text:
        return Preview([], 0, 0, True)
    matcher = Matcher([candidate])
    hits: list[PreviewHit] = []
    matched = scanned = 0
    for report_id, body in _texts(modality.pk, newest_first=True, limit=PREVIEW_SCAN_LIMIT):
        scanned += 1
        found = matcher.find(body)
        if not found:
            continue
        matched += 1
        if len(hits) < PREVIEW_EXAMPLES:
            m = found[0]
            before = body[max(0, m.start - SNIPPET_CONTEXT) : m.start]
            hits.append(
                PreviewHit(report_id, before, body[m.start : m.end], body[m.end : m.end + SNIPPET_CONTEXT])
            )
    complete = scanned < PREVIEW_SCAN_LIMIT
    return Preview(hits, matched, scanned, complete)

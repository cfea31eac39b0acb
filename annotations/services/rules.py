"""The rules as data: assertion triggers and word lists in the database, seeded
from inference/ml/defaults/default_rules.json, extended by admins.

    rules_seed()                         # the defaults that are missing (data migration 0006)
    trigger_create(phrase="not appreciated", category="NEG", direction="BWD", user=admin)
    trigger_set_active(trigger=trigger, active=False)

Any change bumps every modality's schema_version: weak labels, rule-engine and
combined predictions record the schema version they were made with, and the
cached rules every screen and run reads (annotations.selectors.site_ruleset /
site_detector) are rebuilt when it moves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from annotations.models import AssertionTrigger, Modality, RuleEntry
from annotations.selectors import LIST_KINDS, LOCATION_MAPPING_GROUPS
from inference.ml.defaults import default_rules
from inference.ml.text.assertion import AssertionDetector
from inference.ml.text.regex_safety import backtracking_problem
from inference.ml.text.triggers import CATEGORIES, DIRECTIONS


def rules_seed(
    *, data: Mapping[str, Any] | None = None, trigger_model: Any = None, entry_model: Any = None
) -> int:
    """Insert the default rules that are missing (idempotent); returns rows added.
    The model arguments let a data migration pass its historical models."""
    data = default_rules() if data is None else data
    trigger_model = trigger_model or AssertionTrigger
    entry_model = entry_model or RuleEntry
    added = 0
    for row in data.get("triggers", ()):
        _, created = trigger_model.objects.get_or_create(
            phrase=row["phrase"],
            category=row["category"],
            direction=row["direction"],
            defaults={"window": row.get("window"), "language": row.get("language", ""), "is_default": True},
        )
        added += created
    for kind, group, text, value in _entries(data):
        _, created = entry_model.objects.get_or_create(
            kind=kind, group=group, text=text, defaults={"value": value, "is_default": True}
        )
        added += created
    return added


def _entries(data: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    for row in data.get("sections", ()):
        out.append((RuleEntry.Kind.SECTION, row["kind"], row["phrase"], ""))
    for group, words in data.get("location_words", {}).items():
        if group in LOCATION_MAPPING_GROUPS:
            out.extend((RuleEntry.Kind.LOCATION_WORD, group, combo, key) for combo, key in words.items())
        else:
            out.extend((RuleEntry.Kind.LOCATION_WORD, group, word, "") for word in words)
    for name, kind in LIST_KINDS.items():
        out.extend((kind, "", word, "") for word in data.get(name, ()))
    for group, words in data.get("episode_words", {}).items():
        out.extend((RuleEntry.Kind.EPISODE_WORD, group, word, "") for word in words)
    return out


def trigger_validate(*, phrase: str, category: str, direction: str, window: int | None) -> str:
    """The phrase as stored; raises ValidationError with a message an admin can act on."""
    phrase = phrase.strip()
    if not phrase:
        raise ValidationError({"phrase": "Enter a phrase."})
    if category not in CATEGORIES:
        raise ValidationError({"category": f"Choose one of {', '.join(CATEGORIES)}."})
    if direction not in DIRECTIONS:
        raise ValidationError({"direction": f"Choose one of {', '.join(DIRECTIONS)}."})
    if window is not None and not 1 <= window <= 40:
        raise ValidationError({"window": "A window is 1 to 40 words."})
    if phrase.startswith("re:"):
        try:
            compiled = re.compile(phrase[3:])
        except (re.error, OverflowError, RecursionError) as exc:
            raise ValidationError({"phrase": f"Not a valid regular expression: {exc}"}) from exc
        if compiled.match(""):
            raise ValidationError({"phrase": "This expression matches empty text."})
        problem = backtracking_problem(phrase[3:])
        if problem:
            raise ValidationError({"phrase": f"Not a usable regular expression: {problem}"})
    row = (phrase, category, direction, window) if window else (phrase, category, direction)
    try:
        AssertionDetector([row])
    except (ValueError, re.error) as exc:
        raise ValidationError({"phrase": str(exc)}) from exc
    return phrase


@transaction.atomic
def trigger_create(
    *,
    phrase: str,
    category: str,
    direction: str,
    window: int | None = None,
    user: Any = None,
    language: str = "",
) -> AssertionTrigger:
    phrase = trigger_validate(phrase=phrase, category=category, direction=direction, window=window)
    if AssertionTrigger.objects.filter(phrase=phrase, category=category, direction=direction).exists():
        raise ValidationError({"phrase": "This trigger exists already."})
    trigger = AssertionTrigger.objects.create(
        phrase=phrase,
        category=category,
        direction=direction,
        window=window,
        language=language or ("ko" if re.search(r"[\uac00-\ud7a3]", phrase) else "en"),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    rules_changed()
    return trigger


@transaction.atomic
def trigger_set_active(*, trigger: AssertionTrigger, active: bool) -> AssertionTrigger:
    if trigger.is_active != active:
        trigger.is_active = active
        trigger.save(update_fields=["is_active"])
        rules_changed()
    return trigger


@transaction.atomic
def entry_create(*, kind: str, text: str, group: str = "", value: str = "", user: Any = None) -> RuleEntry:
    text, group, value = text.strip(), group.strip(), value.strip()
    if kind not in RuleEntry.Kind.values:
        raise ValidationError({"kind": "Choose a list."})
    if not text:
        raise ValidationError({"text": "Enter a word or phrase."})
    if kind in (RuleEntry.Kind.SECTION, RuleEntry.Kind.LOCATION_WORD) and not group:
        raise ValidationError({"group": "This list needs a group (section kind or location word group)."})
    if kind == RuleEntry.Kind.LOCATION_WORD and group in LOCATION_MAPPING_GROUPS and not value:
        raise ValidationError({"value": "Say which location key this combination or key maps to."})
    if RuleEntry.objects.filter(kind=kind, group=group, text=text).exists():
        raise ValidationError({"text": "This entry exists already."})
    entry = RuleEntry.objects.create(
        kind=kind,
        group=group,
        text=text,
        value=value,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    rules_changed()
    return entry


@transaction.atomic
def entry_set_active(*, entry: RuleEntry, active: bool) -> RuleEntry:
    if entry.is_active != active:
        entry.is_active = active
        entry.save(update_fields=["is_active"])
        rules_changed()
    return entry


def rules_changed() -> None:
    """Rules changed: every modality's schema version moves on."""
    Modality.objects.update(schema_version=F("schema_version") + 1)

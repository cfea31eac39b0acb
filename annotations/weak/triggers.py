"""The assertion trigger table: phrases that negate a finding, mark it historical
or resolved, make it uncertain, look like a trigger but are not (pseudo), or end
a trigger's scope.

Data, not code: the defaults live in annotations/schema/default_rules.json
(together with the rule engine's section headings and location words), are
seeded into the database (annotations.models.AssertionTrigger) and edited by
admins on the Rules page; a run builds its detector from the database rows
(annotations.services.rules), this module gives the defaults to code that runs
without a database (tests, benches, the weak-label bench). Each row is
(phrase, category, direction[, window]):

* category: NEG (negated), HIST (historical or resolved: "no longer seen",
  "has resolved", "소실"; not present now), UNC (uncertain or hypothetical:
  "rule out" asks a question, it does not negate), PSEUDO (contains a trigger
  but is not one: "no change", "not only"; matched so the shorter trigger inside
  it is not), TERM (ends a scope: "but", "however", ";", Korean "그러나", and
  Korean affirmations such as "있음", which close the clause a following "없음"
  would reach back into).
* direction: FWD (applies to findings after it: "no nodule"), BWD (to findings
  before it: "effusion is not seen", Korean "흉수 없음"), BI (both).
* window: how many words the scope may span (default: negation.DEFAULT_WINDOW);
  short for triggers that are only safe next to their finding.

Phrases are keywords (case-insensitive, any whitespace between words, Latin
word edges checked, Hangul edges not) unless they start with "re:", which makes
the rest a regular expression over lower-cased text. Scopes never cross a
sentence boundary (see negation.py). Written for radiology English and Korean,
not for one generator's sentences; ConText (Harkema et al. 2009) and NegEx
(Chapman et al. 2001) trigger lists are the starting point.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

NEG, HIST, UNC, PSEUDO, TERM = "NEG", "HIST", "UNC", "PSEUDO", "TERM"
FWD, BWD, BI = "FWD", "BWD", "BI"
CATEGORIES = (NEG, HIST, UNC, PSEUDO, TERM)
DIRECTIONS = (FWD, BWD, BI)

DEFAULT_RULES_PATH = Path(__file__).resolve().parents[1] / "schema" / "default_rules.json"

Trigger = tuple[str, str, str] | tuple[str, str, str, int]


@cache
def default_rules() -> dict[str, Any]:
    """The parsed default_rules.json (cached; treat as read-only)."""
    with DEFAULT_RULES_PATH.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def rows_to_triggers(rows: Iterable[Mapping[str, Any]]) -> tuple[Trigger, ...]:
    """Trigger tuples from dict rows ({"phrase", "category", "direction", "window"}),
    the shape of default_rules.json and of the database rows."""
    out: list[Trigger] = []
    for row in rows:
        window = row.get("window")
        if window:
            out.append((row["phrase"], row["category"], row["direction"], int(window)))
        else:
            out.append((row["phrase"], row["category"], row["direction"]))
    return tuple(out)


TRIGGERS: tuple[Trigger, ...] = rows_to_triggers(default_rules()["triggers"])

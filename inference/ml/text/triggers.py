"""The assertion trigger table: phrases that negate a finding, mark it historical
or resolved, make it uncertain, look like a trigger but are not (pseudo), or end
a trigger's scope.

Data, not code: the defaults live in inference/ml/defaults/default_rules.json
(together with the rule engine's section headings and location words, read by
defaults.default_triggers), are seeded into the database
(annotations.models.AssertionTrigger) and edited by admins on the Rules page;
every screen and run of the site builds its detector from the database rows
(annotations.selectors.site_detector), code that runs without a database
(tests, benches) from the defaults. Each row is (phrase, category,
direction[, window]):

* category: NEG (negated), HIST (historical or resolved: "no longer seen",
  "has resolved", "소실"; not present now), UNC (uncertain or hypothetical:
  "rule out" asks a question, it does not negate), PSEUDO (contains a trigger
  but is not one: "no change", "not only"; matched so the shorter trigger inside
  it is not), TERM (ends a scope: "but", "however", ";", Korean "그러나", and
  Korean affirmations such as "있음", which close the clause a following "없음"
  would reach back into).
* direction: FWD (applies to findings after it: "no nodule"), BWD (to findings
  before it: "effusion is not seen", Korean "흉수 없음"), BI (both).
* window: how many words the scope may span (default: assertion.DEFAULT_WINDOW);
  short for triggers that are only safe next to their finding.

Phrases are keywords (case-insensitive, any whitespace between words, Latin
word edges checked, Hangul edges not) unless they start with "re:", which makes
the rest a regular expression over lower-cased text. Scopes never cross a
sentence boundary (segment.sentence_end_between). Written for radiology English
and Korean, not for one generator's sentences; ConText (Harkema et al. 2009) and
NegEx (Chapman et al. 2001) trigger lists are the starting point. Plain Python,
no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NEG, HIST, UNC, PSEUDO, TERM = "NEG", "HIST", "UNC", "PSEUDO", "TERM"
FWD, BWD, BI = "FWD", "BWD", "BI"
CATEGORIES = (NEG, HIST, UNC, PSEUDO, TERM)
DIRECTIONS = (FWD, BWD, BI)

Trigger = tuple[str, str, str] | tuple[str, str, str, int]


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

"""Report-level weak labels from entity-value matches, in the two modes.

* "keyword" (the method): a report is positive for a key if any of its values
  matches anywhere, negated or not. This is what made the method's BERT label
  negated reports positive.
* "keyword_negation": the same matches, each with its assertion from
  assertion.AssertionDetector; the key is positive if any mention is positive,
  else uncertain if any is uncertain, else negated.

Plain Python, no Django.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from inference.ml.text.assertion import NEGATED, POSITIVE, UNCERTAIN, AssertionDetector
from inference.ml.text.matcher import Match, Matcher
from inference.ml.text.patterns import fold

KEYWORD = "keyword"
KEYWORD_NEGATION = "keyword_negation"
MODES = (KEYWORD, KEYWORD_NEGATION)
_RANK = {POSITIVE: 0, UNCERTAIN: 1, NEGATED: 2}


@dataclass(frozen=True, slots=True)
class KeyLabel:
    status: str  # positive | uncertain | negated
    values: tuple[str, ...]  # the entity values that matched, first occurrence first

    @property
    def has_key(self) -> bool:
        """Counts as the key being present (what stage 1 learns): positive or uncertain."""
        return self.status != NEGATED


@dataclass(frozen=True, slots=True)
class ReportLabels:
    matches: list[Match]
    statuses: list[str]  # one per match; all positive when negation was not asked for

    def by_mode(self, mode: str) -> dict[Hashable, KeyLabel]:
        statuses = self.statuses if mode == KEYWORD_NEGATION else [POSITIVE] * len(self.matches)
        best: dict[Hashable, str] = {}
        values: dict[Hashable, dict[str, None]] = {}
        for match, status in zip(self.matches, statuses, strict=True):
            for value in match.values:
                key = value.key
                values.setdefault(key, {})[value.text] = None
                if key not in best or _RANK[status] < _RANK[best[key]]:
                    best[key] = status
        return {key: KeyLabel(best[key], tuple(values[key])) for key in best}


def label_report(
    text: str, matcher: Matcher, detector: AssertionDetector | None, *, modes: Sequence[str] = MODES
) -> ReportLabels:
    """Match once; detect assertions only when a mode needs them."""
    folded = fold(text)
    matches = matcher.find(text, folded)
    if KEYWORD_NEGATION in modes:
        if detector is None:
            raise ValueError("keyword_negation needs an AssertionDetector")
        statuses = detector.statuses(text, [(m.start, m.end) for m in matches], folded)
    else:
        statuses = [POSITIVE] * len(matches)
    return ReportLabels(matches, statuses)

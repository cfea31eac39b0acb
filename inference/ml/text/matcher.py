"""Find every entity value of a modality in a report in one regex pass.

    matcher = Matcher([Value("nodule", "nodule"), Value("nodule", r"nodul\\w*", kind="regex")])
    for match in matcher.find("Small nodule in RUL."): match.start, match.end, match.keys

All keywords go into one prefix tree (see patterns.trie_branches) and the regex
values are appended to the same alternation, so a report is scanned once,
whatever the size of the lexicon. Keywords match case-insensitively with any
whitespace between their words; at a position the longest keyword wins and the
scan continues after it, so matches never overlap ("pleural effusion" hides the
"effusion" inside it). A regex value is tried where no keyword matches.

Which values produced a match is looked up afterwards from the matched text
(keywords) or by re-matching the regexes at that position; named groups per
value would make the scan many times slower.

Every alternative of the shared pass starts with a literal character, which lets
`re` skip the positions where no value can start; a regex value joins it after
patterns.lift_regex rewrites it into that shape (it handles `\\bnodul\\w*` and
`\\b(?:rt|right)\\.?\\s*upper`). A regex of another shape, one marked
case-sensitive, one that cannot be embedded in a larger pattern (global inline
flags, backreferences, named groups), or one `re` could backtrack on for long
(regex_safety) gets a pass of its own instead, on the `regex` module under a time
limit: one such value would otherwise slow every report down by a factor of three
(measured on the demo corpus). Case-sensitive keywords ride in the shared pass and are checked
against the original text afterwards.

The one matcher of the project: weak labels, the annotation workspace's
suggestions, the review page's highlights, the rule engine, the same-sentence
baseline and stage 2's evidence check all use it. Plain Python, no Django.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from inference.ml.text.patterns import fold, lift_regex, phrase_key, trie_branches
from inference.ml.text.regex_safety import backtracking_problem, bounded_compile, bounded_spans

KEYWORD = "keyword"
REGEX = "regex"
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


@dataclass(frozen=True, slots=True)
class Value:
    """An entity value: `key` is whatever identifies the key (a name or an id)."""

    key: Hashable
    text: str
    kind: str = KEYWORD
    case_sensitive: bool = False
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    start: int
    end: int
    values: tuple[Value, ...]  # every value that matches exactly this span (at least one)

    @property
    def keys(self) -> tuple[Hashable, ...]:
        return tuple(dict.fromkeys(v.key for v in self.values))


def regex_error(pattern: str) -> str | None:
    """Why `pattern` is not a regex value to save, or None. Used by forms and
    services so that a bad pattern is a message, never an exception or a hang."""
    return _unusable(pattern) or backtracking_problem(pattern)


def _unusable(pattern: str) -> str | None:
    """Why `pattern` cannot be matched at all, or None."""
    try:
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        return str(exc)
    if compiled.match(""):
        return "it matches empty text, so it would match everywhere"
    return None


class Matcher:
    """The compiled lexicon of one modality. Build once per schema version and reuse."""

    def __init__(self, values: Iterable[Value]) -> None:
        self.values: tuple[Value, ...] = tuple(values)
        self._keywords: dict[str, list[Value]] = {}
        self._checked: set[str] = set()  # phrase keys with a case-sensitive value
        self._embedded: list[tuple[re.Pattern[str], Value]] = []
        self._separate: list[tuple[Any, Value]] = []  # `regex` patterns, run with a timeout
        regex_branches: list[str] = []
        for value in self.values:
            if value.kind == KEYWORD:
                key = phrase_key(value.text)
                if key:
                    self._keywords.setdefault(key, []).append(value)
                    if value.case_sensitive:
                        self._checked.add(key)
            elif value.kind == REGEX:
                regex_branches.extend(self._regex_branches(value))
            else:
                raise ValueError(f"entity value kind must be keyword or regex, got {value.kind!r}")
        branches = trie_branches(self._keywords) + regex_branches
        self._regex = re.compile("|".join(branches) if branches else "(?!x)x")

    def _regex_branches(self, value: Value) -> list[str]:
        if _unusable(value.text):
            return []  # forms refuse these; a bad row in the database must not stop a run
        flags = 0 if value.case_sensitive else re.IGNORECASE
        compiled = re.compile(value.text, flags)
        embeddable = (
            not value.case_sensitive
            and not compiled.groupindex
            and not _BACKREF.search(value.text)
            and backtracking_problem(value.text) is None  # the shared pass has no time limit
        )
        lifted = lift_regex(value.text) if embeddable else None
        if lifted is None:
            bounded = bounded_compile(value.text, case_sensitive=value.case_sensitive)
            if bounded is not None:
                self._separate.append((bounded, value))
            return []
        self._embedded.append((compiled, value))
        return lifted

    def find(self, text: str, folded: str | None = None) -> list[Match]:
        """Matches in `text`, ordered by start. Pass `folded` (patterns.fold(text))
        when the caller has it already."""
        folded = fold(text) if folded is None else folded
        out = []
        keywords, checked = self._keywords, self._checked
        for hit in self._regex.finditer(folded):
            start, end = hit.span()
            if start == end:
                continue
            found = keywords.get(" ".join(folded[start:end].split()))
            if found is not None:
                if checked:
                    found = [v for v in found if not v.case_sensitive or _same_case(v.text, text[start:end])]
                if found:
                    out.append(Match(start, end, tuple(found)))
                    continue
            regex_values = tuple(v for rx, v in self._embedded if _fits(rx, folded, start, end))
            if regex_values:
                out.append(Match(start, end, regex_values))
        if self._separate:
            for bounded, value in self._separate:
                out.extend(Match(start, end, (value,)) for start, end in bounded_spans(bounded, text))
            out.sort(key=lambda m: (m.start, -m.end))
        return out

    def keys_in(self, text: str) -> set[Hashable]:
        return {key for match in self.find(text) for key in match.keys}


def _fits(compiled: re.Pattern[str], folded: str, start: int, end: int) -> bool:
    hit = compiled.match(folded, start)  # from `start`, so lookbehinds see the context
    return hit is not None and hit.end() == end


def _same_case(keyword: str, surface: str) -> bool:
    return " ".join(keyword.split()) == " ".join(surface.split())


class LayeredMatcher:
    """A compiled matcher plus a small one for values added since: compiling the
    full alternation takes tens of milliseconds, too long to pay on every mention
    save that teaches the lexicon a new value. Matches of the two layers may
    overlap (a new value inside an old one); suggestions show both."""

    def __init__(self, base: Matcher, added: Iterable[Value]) -> None:
        self.base = base
        self.added = Matcher(added)
        self.values = base.values + self.added.values

    def find(self, text: str, folded: str | None = None) -> list[Match]:
        folded = fold(text) if folded is None else folded
        out = self.base.find(text, folded) + self.added.find(text, folded)
        out.sort(key=lambda m: (m.start, -m.end))
        return out

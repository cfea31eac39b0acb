"""Sections, sentences and clauses of a report, as offsets into the original text.

Rules, not a model, because they must hold for English, Korean and the mix of
both, at tens of thousands of reports per second:

* a section starts at a heading ("FINDINGS:", "Impression", "결론:"), at the
  start of a line, followed by a colon or a line end;
* a sentence ends at ".", "!" or "?" followed by whitespace (not after an
  abbreviation such as "Rt." or inside a decimal), at a line break (unless the
  line is visibly wrapped), at a double quote (some reports list their
  impression items between quote marks), and after a Korean sentence-final
  predicate ("있음", "없음", "보임", "의심됨", "~다") followed by whitespace;
* a clause ends at ";", ",", ":" and at the conjunctions that separate findings
  ("and", "but", "while", "whereas", "with", Korean "-며", "-고", "-나").

Plain Python, no Django.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from annotations.weak.patterns import fold, trie_pattern

ABBREVIATIONS = frozenset(
    {"lt", "rt", "bil", "bilat", "approx", "appr", "dr", "e.g", "i.e", "eg", "ie", "fig", "se", "im", "img"}
    | {
        "cf",
        "mr",
        "ms",
        "no",
        "nos",
        "vs",
        "st",
        "sz",
        "ser",
        "ant",
        "post",
        "sup",
        "inf",
        "lat",
        "med",
        "pt",
    }
)
FINDINGS, IMPRESSION, HISTORY, OTHER = "findings", "impression", "history", "other"

_SENTENCE_END = re.compile(
    r"[.!?]+(?=\s|$)"  # a period and whitespace
    r'|\n|"'  # a line break, a quote mark
    r"|(?<=[\uac00-\ud7a3])(?:음|함|임|됨|봄|짐|다)(?=[ \t]+[^\s,)])"  # 있음 / 없음 / 보임 / ~다 + next word
)
_CLAUSE_END = re.compile(
    r"[;,:]|\s(?:and|but|while|whereas|with|however|although|also|as well as)\s"
    r"|(?<=[\uac00-\ud7a3])(?:며|고|나|지만|으며|이며)\s",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int
    section: str  # findings | impression | history | other
    index: int


class Segmenter:
    """Section headings come from the rules (default_rules.json "sections")."""

    def __init__(self, sections: Iterable[tuple[str, str]]) -> None:
        self._kinds = {" ".join(fold(phrase).split()): kind for phrase, kind in sections}
        heads = trie_pattern(self._kinds)
        # A heading at a line start, then ":" or the line end ("FINDINGS:", "Impression\n").
        self._heading = re.compile(rf"(?m)^[ \t#*\-]*({heads})[ \t]*(?::|$|\n)")

    def sections(self, text: str, folded: str) -> list[tuple[int, str]]:
        """(offset where the section starts, kind), in order; the text before the
        first heading is "findings"."""
        out = [(0, FINDINGS)]
        for hit in self._heading.finditer(folded):
            kind = self._kinds.get(" ".join(hit.group(1).split()), FINDINGS)
            out.append((hit.end(), kind))
        return out

    def sentences(self, text: str, folded: str | None = None) -> list[Sentence]:
        folded = fold(text) if folded is None else folded
        sections = self.sections(text, folded)
        section_starts = [s for s, _ in sections]
        cuts = [0]
        for hit in _SENTENCE_END.finditer(folded):
            at = hit.end()
            mark = hit.group()
            if mark == "\n" and _wrapped_line(text, hit.start()):
                continue
            if mark.startswith(".") and len(mark) == 1 and _abbreviation_before(folded, hit.start()):
                continue
            cuts.append(at)
        cuts.extend(section_starts[1:])
        cuts.append(len(text))
        cuts = sorted(set(cuts))
        out: list[Sentence] = []
        for a, b in pairwise(cuts):
            start, end = _strip(text, a, b)
            if end > start and any(c.isalnum() for c in text[start:end]):
                section = sections[bisect_right(section_starts, start) - 1][1]
                out.append(Sentence(start, end, section, len(out)))
        return out


def clauses(text: str, sentence: Sentence) -> list[Span]:
    """Clause spans inside a sentence."""
    cuts = [sentence.start]
    for hit in _CLAUSE_END.finditer(text, sentence.start, sentence.end):
        if hit.group() == "," and _decimal_comma(text, hit.start()):
            continue
        cuts.append(hit.start())
        cuts.append(hit.end())
    cuts.append(sentence.end)
    out = []
    for a, b in zip(cuts[::2], cuts[1::2], strict=False):
        start, end = _strip(text, a, b)
        if end > start:
            out.append(Span(start, end))
    return out or [Span(sentence.start, sentence.end)]


def index_of(starts: Sequence[int], ends: Sequence[int], offset: int) -> int:
    """Index of the span (given by sorted starts/ends) holding `offset`, or -1."""
    i = bisect_right(starts, offset) - 1
    return i if i >= 0 and offset < ends[i] else -1


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and (text[a].isspace() or text[a] in '"'):
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _wrapped_line(text: str, at: int) -> bool:
    before = text[max(0, at - 4) : at].rstrip(" \t\r")[-1:]
    after = text[at + 1 : at + 6].lstrip(" \t")[:1]
    return (before.isalnum() or before == ",") and "a" <= after <= "z"


def _abbreviation_before(folded: str, at: int) -> bool:
    if at > 0 and folded[at - 1].isdigit() and folded[at + 1 : at + 2].isdigit():
        return True
    word = folded[max(0, at - 8) : at].rsplit(None, 1)[-1:] or [""]
    return word[0].lstrip("(-") in ABBREVIATIONS


def _decimal_comma(text: str, at: int) -> bool:
    return 0 < at < len(text) - 1 and text[at - 1].isdigit() and text[at + 1].isdigit()

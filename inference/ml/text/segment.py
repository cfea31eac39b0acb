"""Sections, sentences and clauses of a report, as offsets into the original text:
the one segmentation of the project (assertion scopes, the rule engine, the
same-sentence baseline).

Rules, not a model, because they must hold for English, Korean and the mix of
both, at tens of thousands of reports per second:

* a section starts at a heading ("FINDINGS:", "Impression", "결론:"), at the
  start of a line, followed by a colon or a line end;
* a sentence ends at ".", "!" or "?" followed by whitespace or the end of the
  text (not after an abbreviation such as "Rt.", "approx." or "e.g."; a decimal
  point is never followed by whitespace), at a line break (unless the line is
  visibly wrapped: it ends in a letter, digit or comma and the next one starts
  with a lower-case Latin letter), at a double quote mark, straight or curly (some reports list
  their impression items between quote marks), and after a Korean sentence-final
  predicate ("있음", "없음", "보임", "의심됨", "~다") followed by whitespace and
  a word;
* a clause ends at ";", ",", ":" and at the conjunctions that separate findings
  ("and", "but", "while", "whereas", "with", Korean "-며", "-고", "-나").

Line breaks matter because report lines ("Findings:", list items, Korean lines)
often end without a period and would otherwise run into the next finding.

Two ways to ask, one set of rules: `Segmenter.sentences` cuts a whole report;
`sentence_end_between` answers "does a sentence end between these two offsets"
without cutting the report, which is what assertion scopes ask for every
trigger near a mention (weak labelling runs at thousands of reports a second).
It applies the same boundary rules except section headings, which need the
rules' heading list; a heading starts a line, so the line break before it
already ends the sentence unless the heading continues a wrapped line in lower
case. Plain Python, no Django.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from inference.ml.text.patterns import fold, trie_pattern

# Words that end in a period inside a sentence ("Nodule in Rt. upper lobe"), folded,
# without their period. Without them a lesion loses its location to the next sentence.
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

# Every branch starts with a character class or literal, so `re` skips the positions
# that cannot end a sentence (most of a report) at C speed.
_SENTENCE_END = re.compile(
    r"[.!?]+(?=\s|$)"  # a period and whitespace
    r'|\n|["\u201c\u201d]'  # a line break, a quote mark (straight or curly)
    r"|[음함임됨봄짐다](?<=[\uac00-\ud7a3].)(?=[ \t]+[^\s,)])"  # 있음 / 없음 / 보임 / ~다 + next word
)
# The characters a boundary of _SENTENCE_END starts with.
_BOUNDARY_START = re.compile('[.!?\n"\u201c\u201d음함임됨봄짐다]')
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
    """Section headings come from the rules (default_rules.json "sections"); with
    none, the text is one "findings" section and only sentences are cut."""

    def __init__(self, sections: Iterable[tuple[str, str]] = ()) -> None:
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
        """Sentence spans of `text`, stripped of surrounding whitespace and quote
        marks; pieces without a letter or digit are left out."""
        folded = fold(text) if folded is None else folded
        sections = self.sections(text, folded)
        section_starts = [s for s, _ in sections]
        cuts = [0]
        cuts.extend(hit.end() for hit in _SENTENCE_END.finditer(folded) if _ends(text, folded, hit))
        cuts.extend(section_starts[1:])
        cuts.append(len(text))
        out: list[Sentence] = []
        for a, b in pairwise(sorted(set(cuts))):
            start, end = _strip(text, a, b)
            if end > start and any(c.isalnum() for c in text[start:end]):
                section = sections[bisect_right(section_starts, start) - 1][1]
                out.append(Sentence(start, end, section, len(out)))
        return out


def sentence_end_between(text: str, folded: str, a: int, b: int) -> bool:
    """Whether a sentence ends in text[a:b] (a boundary mark starts there), by the
    rules of Segmenter.sentences without section headings. Looks only at the
    characters that can start a boundary inside [a, b), which is cheaper than
    cutting the report."""
    search, match = _BOUNDARY_START.search, _SENTENCE_END.match
    at = a
    while at < b:
        candidate = search(folded, at, b)
        if candidate is None:
            return False
        at = candidate.start()
        hit = match(folded, at)  # over the whole text: its lookarounds see past b
        if hit is None:
            at += 1
        elif _ends(text, folded, hit):
            return True
        else:
            at = hit.end()
    return False


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


def _ends(text: str, folded: str, hit: re.Match[str]) -> bool:
    """Whether a candidate boundary mark really ends a sentence."""
    at = hit.start()
    if hit.end() - at > 1:
        return True
    mark = folded[at]
    if mark == ".":
        return not _abbreviation_before(folded, at)
    return mark != "\n" or not _wrapped_line(text, at)


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and (text[a].isspace() or text[a] in '"\u201c\u201d'):
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _wrapped_line(text: str, at: int) -> bool:
    before = text[max(0, at - 4) : at].rstrip(" \t\r")[-1:]
    after = text[at + 1 : at + 6].lstrip(" \t")[:1]
    return (before.isalnum() or before == ",") and "a" <= after <= "z"


def _abbreviation_before(folded: str, at: int) -> bool:
    word = folded[max(0, at - 8) : at].rsplit(None, 1)[-1:] or [""]
    return word[0].lstrip("(-") in ABBREVIATIONS


def _decimal_comma(text: str, at: int) -> bool:
    return 0 < at < len(text) - 1 and text[at - 1].isdigit() and text[at + 1].isdigit()

"""Assembling report text together with its labelled spans.

A `Doc` is written left to right; every labelled surface goes through
`Doc.mention`, which records the span at the current offset, so offsets are
correct by construction (Python string indexes, i.e. Unicode code points).

Sentence templates are plain strings with slots: ``"A {S} {F} in {L}{SE}."``.
``{/}`` marks a sentence boundary inside a template ("There is a new {F}. {/}It
is located in {L}."); the Doc counts sentences so the generator knows, without
re-parsing, whether a pair crosses sentences.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

_SLOT = re.compile(r"\{(\w+|/)\}")
BREAK = 0  # a sentence boundary inside a template
_T = TypeVar("_T")

# A labelled surface to write: (key, text, negated, uncertain, role); role "f" is
# a finding (pair source), "t" a pair target (location / episode), "" unpaired.
# A plain tuple, not a NamedTuple: reports are built from hundreds of them.
Span = tuple[str, str, bool, bool, str]


def span(key: str, text: str, negated: bool = False, uncertain: bool = False, role: str = "") -> Span:
    return (key, text, negated, uncertain, role)


class Doc:
    """Report text under construction, with mentions and finding -> target pairs.

    Text goes into `parts`; the offset is only summed up when a mention needs it.
    """

    __slots__ = ("_counted", "mentions", "pairs", "parts", "pos", "sentence")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._counted = 0  # parts[:_counted] are included in pos
        self.pos = 0
        self.sentence = 0
        # (key, start, end, text, negated, uncertain, sentence)
        self.mentions: list[tuple[str, int, int, str, bool, bool, int]] = []
        self.pairs: dict[int, list[int]] = {}

    def write(self, s: str) -> None:
        self.parts.append(s)

    def mention(self, sp: Span) -> int:
        parts = self.parts
        pos = self.pos
        for i in range(self._counted, len(parts)):
            pos += len(parts[i])
        text = sp[1]
        end = pos + len(text)
        self.mentions.append((sp[0], pos, end, text, sp[2], sp[3], self.sentence))
        parts.append(text)
        self.pos = end
        self._counted = len(parts)
        return len(self.mentions) - 1

    def next_sentence(self, sep: str) -> None:
        self.sentence += 1
        self.parts.append(sep)

    def pair(self, source: int, targets: Sequence[int]) -> None:
        if targets:
            self.pairs.setdefault(source, []).extend(targets)

    def text(self) -> str:
        return "".join(self.parts)


class Template:
    """A compiled template: literals (str), slot names (Slot) and BREAK, plus the set of slots."""

    __slots__ = ("parts", "slots", "source")

    def __init__(self, source: str) -> None:
        parts: list[object] = []
        pos = 0
        for m in _SLOT.finditer(source):
            if m.start() > pos:
                parts.append(source[pos : m.start()])
            parts.append(BREAK if m.group(1) == "/" else Slot(m.group(1)))
            pos = m.end()
        if pos < len(source):
            parts.append(source[pos:])
        self.source = source
        self.parts = tuple(parts)
        self.slots = frozenset(str(p) for p in parts if p.__class__ is Slot)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


class Slot(str):
    """A slot name inside a compiled template (a str subclass, told apart by class)."""

    __slots__ = ()


def compile_template(source: str) -> Template:
    return Template(source)


def compile_all(sources: Sequence[str]) -> tuple[Template, ...]:
    return tuple(Template(s) for s in sources)


def render(doc: Doc, template: Template, values: Mapping[str, object]) -> None:
    """Write `template`, filling slots from `values` (str, Span, or list of str/Span).

    Finding spans become pair sources and target spans their targets: every
    finding written by this template is paired with every target it writes.
    """
    # Parts and values are told apart by exact class (`cls is str`: a Slot is a str
    # subclass, and this loop runs for every slot of every report), which mypy cannot
    # narrow on; the ignores below stand for those checks.
    sources: list[int] = []
    targets: list[int] = []
    parts = doc.parts
    append = parts.append
    for part in template.parts:
        cls = part.__class__
        if cls is str:
            append(part)  # type: ignore[arg-type]
            continue
        if cls is int:
            doc.sentence += 1
            continue
        value = values[part]  # type: ignore[index]
        cls = value.__class__
        if cls is str:
            append(value)  # type: ignore[arg-type]
            continue
        for item in (value,) if cls is tuple else value:  # type: ignore[attr-defined]
            if item.__class__ is str:
                append(item)
                continue
            idx = doc.mention(item)
            role = item[4]
            if role == "f":
                sources.append(idx)
            elif role == "t":
                targets.append(idx)
    if targets:
        pairs = doc.pairs
        for source in sources:
            pairs.setdefault(source, []).extend(targets)


def parse_forms(spec: str) -> tuple[tuple[str, str], ...]:
    """ "nodule:c|nodules:p" -> (("nodule", "c"), ("nodules", "p"))."""
    out = []
    for item in spec.split("|"):
        text, _, cls = item.rpartition(":")
        out.append((text, cls))
    return tuple(out)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s and s[0].islower() else s


def cap_span(sp: Span) -> Span:
    text = sp[1]
    if text and text[0].islower():
        return (sp[0], text[0].upper() + text[1:], sp[2], sp[3], sp[4])
    return sp


def article(word: str) -> str:
    """'a' or 'an' before `word`, by sound for the cases the banks produce."""
    first = word[:1].lower()
    if first in "aeiou" or word.startswith(("8", "11 ", "18 ", "11-", "18-")):
        return "an"
    return "a"


def has_batchim(word: str) -> bool:
    """True when a Hangul word ends in a final consonant (selects 은/이 over 는/가)."""
    last = word[-1:]
    return bool(last) and "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 != 0


_HANGUL = re.compile("[가-힣]")


def is_hangul(text: str) -> bool:
    """True when `text` contains a Hangul syllable."""
    return _HANGUL.search(text) is not None


class FastRandom(random.Random):
    """random.Random with a cheaper `choice` (one float draw instead of a
    getrandbits loop): the generator makes hundreds of choices per report.
    Still fully determined by the seed."""

    def choice(self, seq: SupportsLenAndGetItem[_T]) -> _T:
        return seq[int(self.random() * len(seq))]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def weighted(self, keys: Sequence[_T], cum_weights: Sequence[float]) -> _T:
        """One of `keys`, drawn with cumulative weights (like choices(..., cum_weights=)[0])."""
        return keys[bisect_right(cum_weights, self.random() * cum_weights[-1])]

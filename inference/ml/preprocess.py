"""Text normalization for model input, with an offset map back to the original.

The method's pre-processing: "we removed symbols, except for commonly used
punctuation such as commas and periods, and substituted newlines and
consecutive spaces into a space." Concretely, every character is either

- kept: a letter, digit or combining mark of any script (Unicode categories
  L*, N*, M*; marks so that a decomposed "é" or a Hangul/Indic syllable built
  from a base and a mark stays one word), or one of KEPT_PUNCTUATION; or
- a separator: anything else (whitespace, symbols, emoji, controls, quotes).

Each run of separators becomes one ASCII space (so "a*b" -> "a b", never "ab"),
and separators at either end disappear. No kept character is ever changed, so
`text[i] == original[offsets[i]]` for every non-space character; a space stands
for the run that starts at `original[offsets[i]]`. Offsets are code-point
(Python str) indexes.

The classification depends on the character alone, never on its neighbours:
that is what makes normalization idempotent and lets any span of the normalized
text be re-derived from the matching slice of the original.

Plain Python, no Django: used by training, inference and the benchmarks alike.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass

# Punctuation that carries meaning in reports: sentence and list structure
# (. , : ; ? !), lobe lists ("RUL/RML"), ranges and signs ("3-4", "+"), measurements
# and comparisons ("<5 mm", "=", "15%"), series/image references "(Se 3, Im 45)",
# and apostrophes ("Hodgkin's").
KEPT_PUNCTUATION = frozenset(".,:;()/-%+'?!<>=")

_KEPT_CATEGORIES = ("L", "N", "M")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A normalized string and, for each of its characters, its index in the original."""

    text: str
    offsets: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the span [start, end) of `text` to the span of the original that
        covers exactly those characters (end exclusive)."""
        self._check_span(start, end, len(self.text))
        if start == end:
            point = self.offsets[start] if start < len(self.offsets) else self._original_end()
            return point, point
        return self.offsets[start], self.offsets[end - 1] + 1

    def to_normalized(self, start: int, end: int) -> tuple[int, int] | None:
        """Map the span [start, end) of the original to the smallest span of `text`
        holding every kept character of original[start:end], without spaces at its
        edges. None when the span holds no kept character (only separators)."""
        if start < 0 or end < start:
            raise ValueError(f"invalid span [{start}, {end})")
        lo = bisect_left(self.offsets, start)
        hi = bisect_left(self.offsets, end)
        if lo < hi and self.text[lo] == " ":
            lo += 1
        if lo < hi and self.text[hi - 1] == " ":
            hi -= 1
        return (lo, hi) if lo < hi else None

    def _original_end(self) -> int:
        return self.offsets[-1] + 1 if self.offsets else 0

    @staticmethod
    def _check_span(start: int, end: int, length: int) -> None:
        if not 0 <= start <= end <= length:
            raise ValueError(f"span [{start}, {end}) outside text of length {length}")


def normalize(original: str) -> NormalizedText:
    """Normalize `original` for model input; see the module docstring for the rules."""
    # One C-speed pass turns every separator into " "; only runs of two or more
    # spaces (rare in prose) cost a Python-level step.
    spaced = original.translate(_SEPARATOR_TO_SPACE)
    end = len(spaced.rstrip(" "))
    pos = len(spaced) - len(spaced.lstrip(" ")) if end else 0
    parts: list[str] = []
    offsets: list[int] = []
    for match in _MULTIPLE_SPACES.finditer(spaced, pos, end):
        run_start, run_end = match.span()
        parts.append(spaced[pos : run_start + 1])
        offsets.extend(range(pos, run_start + 1))
        pos = run_end
    parts.append(spaced[pos:end])
    offsets.extend(range(pos, end))
    return NormalizedText("".join(parts), tuple(offsets))


def is_kept(char: str) -> bool:
    """True if `char` survives normalization unchanged."""
    return char in KEPT_PUNCTUATION or unicodedata.category(char)[0] in _KEPT_CATEGORIES


class _SeparatorTable(dict[int, int]):
    """A `str.translate` table filled on demand: code point -> itself if kept, else
    a space. Reports use a few thousand distinct characters, so after warm-up every
    lookup is a dict hit; the cap only bounds memory on adversarial input."""

    MAX_ENTRIES = 1 << 16

    def __missing__(self, code_point: int) -> int:
        value = code_point if is_kept(chr(code_point)) else _SPACE
        if len(self) < self.MAX_ENTRIES:
            self[code_point] = value
        return value


_SPACE = ord(" ")
_SEPARATOR_TO_SPACE = _SeparatorTable()
_MULTIPLE_SPACES = re.compile("  +")

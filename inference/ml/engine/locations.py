"""Location phrases the lexicon alone cannot read: laterality and lobe words in
the combinations radiologists write them in.

    "in the lower lobe of the right lung"   -> right lower lobe
    "right lung lower lobe superior segment" -> right lower lobe
    "right upper and middle lobes"           -> right upper lobe, right middle lobe
    "both lower lobes", "bilateral upper lobes", "양측 하엽" -> both lungs
    "left-sided", "on the right", "bilaterally" -> left lung / right lung / both lungs (weak)
    "the lower lobe" after "In the right lung," -> right lower lobe (side from the clause before)

The words and what each combination means are data (default_rules.json
"location_words", editable by admins); this module only knows the grammar.
Plain Python, no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from inference.ml.text.patterns import phrase_key

RIGHT, LEFT, BOTH = "right", "left", "both"
UPPER, MIDDLE, LOWER = "upper", "middle", "lower"
_KOREAN = re.compile(r"[\uac00-\ud7a3]")
_MAPPINGS = ("keys", "parents")  # groups that map phrases to keys, not word lists


@dataclass(frozen=True, slots=True)
class LocationMention:
    keys: tuple[str, ...]
    start: int
    end: int
    weak: bool = False  # a bare side word ("on the right"): used only when nothing better is near


def _alt(words: Iterable[str]) -> str:
    """Alternation, longest first, each word with flexible whitespace."""
    keys = sorted({phrase_key(w) for w in words if w.strip()}, key=len, reverse=True)
    return "(?:" + "|".join(r"\s+".join(re.escape(p) for p in k.split(" ")) for k in keys) + ")"


# A word group's name -> its words; "keys" maps a combination's phrase to a location key.
LocationWords = Mapping[str, Sequence[str] | Mapping[str, str]]


class LocationGrammar:
    def __init__(self, words: LocationWords, known_keys: Iterable[str] | None = None) -> None:
        latin = {
            name: [w for w in words.get(name, ()) if not _KOREAN.search(w)]
            for name in words
            if name not in _MAPPINGS
        }
        korean = {
            name: [w for w in words.get(name, ()) if _KOREAN.search(w)]
            for name in words
            if name not in _MAPPINGS
        }
        self._word_of: dict[str, str] = {}
        for name in (RIGHT, LEFT, BOTH, UPPER, MIDDLE, LOWER, "lingula"):
            for w in words.get(name, ()):
                self._word_of[phrase_key(w)] = name
        given = words.get("keys", {})
        keys = dict(given) if isinstance(given, Mapping) else {}
        if known_keys is not None:
            known = set(known_keys)
            keys = {k: v for k, v in keys.items() if v in known}
        self._keys: dict[str, str] = keys
        # Single-letter side words ("r", "l") only before a position word: "R lower lobe".
        side_words = [w for w in latin[RIGHT] + latin[LEFT] + latin[BOTH] if len(w.rstrip(".")) > 1]
        side = _alt(side_words)
        short_side = _alt(latin[RIGHT] + latin[LEFT] + latin[BOTH])
        pos = _alt(latin[UPPER] + latin[MIDDLE] + latin[LOWER])
        lobe = _alt(latin["lobe"])
        lung = _alt(latin["lung"])
        base = _alt(latin.get("base") or ["base"])
        pos_list = rf"{pos}(?:\s*(?:,|&|/|-|\band\b|\bor\b)\s*{pos})*"
        side_list = rf"{side}(?:\s*(?:,|&|/|\band\b)\s*{side})*"
        b, e = r"(?<![a-z0-9])", r"(?![a-z0-9])"
        self._patterns: list[tuple[re.Pattern[str], bool]] = [
            # lower lobe (superior segment) of the right lung / upper lobes of both lungs
            (
                re.compile(
                    rf"{b}(?P<pos>{pos_list})\s+{lobe}(?:\s+[a-z-]+){{0,3}}?\s+of\s+(?:the\s+)?(?P<side>{side_list})\s+{lung}{e}"
                ),
                False,
            ),
            # right upper and middle lobes / right lung lower lobe / R lower lobe / both lower lobes
            (
                re.compile(
                    rf"{b}(?P<side>{side_list}|{short_side})\s*(?:{lung}\s+)?(?P<pos>{pos_list})\s*{lobe}{e}"
                ),
                False,
            ),
            # right lung base / left base / bilateral bases (a lung base is the lower lobe)
            (re.compile(rf"{b}(?P<side>{side_list})\s+(?:{lung}\s+)?(?P<base>{base}){e}"), False),
            # right middle lung / left lower lung zone
            (re.compile(rf"{b}(?P<side>{side_list})\s+(?P<pos>{pos_list})\s+{lung}(?:\s+zones?)?{e}"), False),
            # lower lobes bilaterally
            (re.compile(rf"{b}(?P<pos>{pos_list})\s+{lobe}\s+(?P<side>bilaterally){e}"), False),
            # right lung / both lungs / right hemithorax
            (re.compile(rf"{b}(?P<side>{side_list})\s+{lung}{e}"), False),
            # the lower lobe (side from context) / the middle lobe
            (re.compile(rf"{b}(?P<pos>{pos_list})\s+{lobe}{e}"), False),
            # right-sided / on the right / bilateral(ly) (weak)
            (re.compile(rf"{b}(?P<side>{side})[\s-]+sided{e}"), True),
            (
                re.compile(
                    rf"{b}(?:on|in|at)\s+the\s+(?P<side>{side})(?:\s+side)?(?=\s*(?:[,.;:)\"]|$|\n|\band\b|\bwith\b|\bwhere\w*\b))"
                ),
                True,
            ),
            (re.compile(rf"{b}(?P<side>bibasilar|bibasal){e}"), False),
            (re.compile(rf"{b}(?P<side>bilateral(?:ly)?|both\s+sides){e}"), True),
        ]
        if korean[RIGHT] or korean[LEFT]:
            k_side = _alt(korean[RIGHT] + korean[LEFT] + korean[BOTH])
            k_pos = _alt(korean[UPPER] + korean[MIDDLE] + korean[LOWER])
            k_lobe = _alt(korean["lobe"])
            k_lung = _alt(korean["lung"])
            self._patterns.append(
                (
                    re.compile(
                        rf"(?P<side>{k_side})\s*(?:{k_lung}\s*)?(?P<pos>{k_pos}(?:\s*[,·및]?\s*{k_pos})*)\s*{k_lobe}"
                    ),
                    False,
                )
            )
            self._patterns.append((re.compile(rf"(?P<side>{k_side})\s*{k_lung}"), False))
        self._sides_rx = re.compile(rf"{b}{side}{e}")

    def find(self, folded: str) -> list[LocationMention]:
        """Non-overlapping mentions, earlier patterns first (they are the more specific)."""
        taken: list[tuple[int, int]] = []
        out: list[LocationMention] = []
        for pattern, weak in self._patterns:
            for hit in pattern.finditer(folded):
                start, end = hit.span()
                if any(s < end and start < e for s, e in taken):
                    continue
                groups = hit.groupdict()
                sides = self._names(groups.get("side"))
                positions = [LOWER] if groups.get("base") else self._names(groups.get("pos"))
                if not sides and not positions:
                    continue
                if not sides:
                    sides = self._side_from_context(folded, start)
                    if not sides and len(positions) == 1 and positions[0] != MIDDLE:
                        plural = folded[start:end].rstrip().endswith("s")
                        sides = [BOTH] if plural else []
                keys = self._combine(sides, positions)
                if keys:
                    taken.append((start, end))
                    out.append(LocationMention(keys, start, end, weak))
        out.sort(key=lambda m: m.start)
        return out

    def _names(self, group: str | None) -> list[str]:
        if not group:
            return []
        found = []
        for piece in re.split(r"\s*(?:,|&|/|-|\band\b|\bor\b|·|및)\s*|\s+", group):
            key = phrase_key(piece)
            name = self._word_of.get(key) or self._word_of.get(key.rstrip("ly"))
            if name is None and key.startswith(("bilateral", "bibas")):
                name = BOTH
            if name is None and key == "both sides":
                name = BOTH
            if name and name not in found:
                found.append(name)
        if not found and group:
            # Korean side/position words are single syllables inside one token ("상하").
            for char in group:
                name = self._word_of.get(char)
                if name and name not in found:
                    found.append(name)
        return found

    def _side_from_context(self, folded: str, start: int) -> list[str]:
        """The side named last before `start` in the same sentence ("In the right
        lung, ... the lower lobe")."""
        begin = max(folded.rfind(".", 0, start), folded.rfind("\n", 0, start), folded.rfind('"', 0, start))
        named = [
            self._word_of.get(phrase_key(h.group()))
            for h in self._sides_rx.finditer(folded, begin + 1, start)
        ]
        sides = [s for s in named if s]
        return sides[-1:] if sides else []

    def _combine(self, sides: Sequence[str], positions: Sequence[str]) -> tuple[str, ...]:
        if RIGHT in sides and LEFT in sides:
            sides = [BOTH]
        keys: list[str] = []
        for side in sides or [""]:
            if side == BOTH:
                keys.append(self._keys.get(BOTH, ""))
                continue
            if not positions:
                keys.append(self._keys.get(side, ""))
            for position in positions:
                name = f"{side} {position}".strip()
                keys.append(self._keys.get(name, ""))
        return tuple(dict.fromkeys(k for k in keys if k))

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
_MAPPINGS = ("keys", "parents", "only_for")  # groups that map phrases to keys, not word lists


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
        apex = _alt(latin.get("apex") or ["apex"])
        zone = _alt(latin.get("zone") or ["zone"])
        segment = _alt(latin.get("segment") or ["segment"])
        lingula = _alt(latin.get("lingula") or ["lingula"])
        filler = _alt(latin.get("filler") or ["visible"])  # "both visible lung parenchyma"
        pos_list = rf"{pos}(?:\s*(?:,|&|/|-|\band\b|\bor\b)\s*{pos})*"
        side_list = rf"{side}(?:\s*(?:,|&|/|\band\b)\s*{side})*"
        segments = rf"{segment}(?:[\s-]*(?:,|-|/|\band\b|\bor\b)?[\s-]*{segment}){{0,4}}"
        of_lung = rf"\s+(?:of|in)\s+(?:the\s+)?(?P<side>{side_list})\s+(?:{filler}\s+)?{lung}"
        b, e = r"(?<![a-z0-9])", r"(?![a-z0-9])"
        # (pattern, weak, what a match means): "lobe" reads side + positions; "zone" a side
        # lung only (zones are not lobes); "lingula" the lingula whatever else it says.
        self._patterns: list[tuple[re.Pattern[str], bool, str]] = [
            # left lung upper lobe lingular segment / superior lingular segment of the left upper lobe
            (
                re.compile(
                    rf"{b}(?:(?:{side})\s+(?:{lung}\s+)?)?(?:{pos}\s+{lobe}\s+)?(?:{segment}\s+)?{lingula}"
                    rf"(?:\s+{segment})?(?:\s+of\s+(?:the\s+)?(?:{side}\s+)?(?:{lung}\s+{pos}\s+{lobe}|{pos}\s+{lobe}|{lung}))?{e}"
                ),
                False,
                "lingula",
            ),
            # lower zone of the right lung / right lower zone / lower zones of both lungs
            (re.compile(rf"{b}(?:{pos_list}\s+)?{zone}{of_lung}{e}"), False, "zone"),
            (
                re.compile(
                    rf"{b}(?P<side>{side_list})\s+(?:{lung}\s+)?(?:{pos_list}\s+)?(?:{lung}\s+)?{zone}{e}"
                ),
                False,
                "zone",
            ),
            # lower lobe (superior segment) of the right lung / upper lobes of both lungs
            (
                re.compile(rf"{b}(?P<pos>{pos_list})\s+{lobe}(?:[\s,-]+[a-z-]+){{0,4}}?{of_lung}{e}"),
                False,
                "lobe",
            ),
            # apical segment of the right lung / basal parts of both lungs / apex of the left lung
            (
                re.compile(rf"{b}(?:(?P<apex>{apex})|(?P<base>{base}))(?:\s+[a-z-]+){{0,2}}?{of_lung}{e}"),
                False,
                "lobe",
            ),
            # right upper and middle lobes / right lung lower lobe / R lower lobe / both lower lobes
            (
                re.compile(
                    rf"{b}(?P<side>{side_list}|{short_side})\s*(?:{lung}\s+)?(?P<pos>{pos_list})\s*{lobe}{e}"
                ),
                False,
                "lobe",
            ),
            # left lower posterobasal segment / bilateral lower lobe segments written without "lobe"
            (
                re.compile(rf"{b}(?P<side>{side_list})\s+(?:{lung}\s+)?(?P<pos>{pos_list})\s+{segments}{e}"),
                False,
                "lobe",
            ),
            # right lung base / left base / bilateral bases (a lung base is the lower lobe)
            (re.compile(rf"{b}(?P<side>{side_list})\s+(?:{lung}\s+)?(?P<base>{base}){e}"), False, "lobe"),
            # right apex / both lung apices / bilateral apical (an apex is the upper lobe)
            (re.compile(rf"{b}(?P<side>{side_list})\s+(?:{lung}\s+)?(?P<apex>{apex}){e}"), False, "lobe"),
            # right middle lung / left lower lung (a lobe in American usage; a zone is handled above)
            (re.compile(rf"{b}(?P<side>{side_list})\s+(?P<pos>{pos_list})\s+{lung}{e}"), False, "lobe"),
            # lower lobes bilaterally
            (re.compile(rf"{b}(?P<pos>{pos_list})\s+{lobe}\s+(?P<side>bilaterally){e}"), False, "lobe"),
            # right lung / both lungs / both visible lung parenchyma / right hemithorax
            (re.compile(rf"{b}(?P<side>{side_list})\s+(?:{filler}\s+)?{lung}{e}"), False, "lobe"),
            # the lower lobe (side from context) / the middle lobe / lower lobes (both sides)
            (re.compile(rf"{b}(?P<pos>{pos_list})\s+{lobe}{e}"), False, "lobe"),
            # lung bases / the apices (plural: both sides; singular and unsided: no key)
            (re.compile(rf"{b}(?:{lung}\s+)?(?:(?P<apex>{apex})|(?P<base>{base})){e}"), False, "lobe"),
            # right-sided / on the right / bilateral(ly) (weak)
            (re.compile(rf"{b}(?P<side>{side})[\s-]+sided{e}"), True, "lobe"),
            (
                re.compile(
                    rf"{b}(?:on|in|at)\s+the\s+(?P<side>{side})(?:\s+side)?(?=\s*(?:[,.;:)\"]|$|\n|\band\b|\bwith\b|\bwhere\w*\b))"
                ),
                True,
                "lobe",
            ),
            (re.compile(rf"{b}(?P<side>(?P<base>bibasilar|bibasal)){e}"), False, "lobe"),
            (re.compile(rf"{b}(?P<side>bilateral(?:ly)?|both\s+sides){e}"), True, "lobe"),
            # in the lungs (plural, unsided: both lungs)
            (re.compile(rf"{b}(?:in|of|within|throughout)\s+(?:the\s+)?(?P<lungs>lungs){e}"), True, "lobe"),
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
                    "lobe",
                )
            )
            self._patterns.append((re.compile(rf"(?P<side>{k_side})\s*{k_lung}"), False, "lobe"))
        self._sides_rx = re.compile(rf"{b}{side}{e}")
        # A paragraph about one lung starts with it as a heading: "Right lung:", "LEFT LUNG -".
        self._paragraph_side = re.compile(rf"[ \t#*-]*(?:{side})\s+{lung}\s*[:\-]")

    def find(self, folded: str) -> list[LocationMention]:
        """Non-overlapping mentions, earlier patterns first (they are the more specific)."""
        taken: list[tuple[int, int]] = []
        out: list[LocationMention] = []
        for pattern, weak, meaning in self._patterns:
            for hit in pattern.finditer(folded):
                start, end = hit.span()
                if any(s < end and start < e for s, e in taken):
                    continue
                keys = self._read(folded, hit, meaning)
                if keys:
                    taken.append((start, end))
                    out.append(LocationMention(keys, start, end, weak))
        out.sort(key=lambda m: m.start)
        return out

    def _read(self, folded: str, hit: re.Match[str], meaning: str) -> tuple[str, ...]:
        groups = hit.groupdict()
        if meaning == "lingula":
            return tuple(k for k in (self._keys.get("lingula", ""),) if k)
        if groups.get("lungs"):
            return self._combine([BOTH], [])
        sides = self._names(groups.get("side"))
        if meaning == "zone":
            return self._combine(sides, [])
        if groups.get("base"):
            positions = [LOWER]
        elif groups.get("apex"):
            positions = [UPPER]
        else:
            positions = self._names(groups.get("pos"))
        if not sides and not positions:
            return ()
        if not sides:
            sides = self._side_from_context(folded, hit.start())
            if not sides and positions != [MIDDLE]:
                # "the lower lobes", "lung bases": plural and unsided means both sides;
                # "the lower lobe" with no side anywhere near gives no key (LABELLING R9).
                plural = hit.group().rstrip().endswith(("s", "apices"))
                sides = [BOTH] if plural else []
        return self._combine(sides, positions)

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
        """The one side an unsided lobe sits in, by LABELLING.md R9: the sentence names
        only that side before it ("In the right lung, ... the lower lobe"), or the
        sentence is inside a paragraph headed by one lung ("Right lung:" or a
        paragraph that names no other side). A sentence naming both sides, or none in
        a paragraph about both lungs, gives no side."""
        begin = max(folded.rfind(".", 0, start), folded.rfind("\n", 0, start), folded.rfind('"', 0, start))
        sides = self._sides_in(folded, begin + 1, start)
        if sides:
            return sides if len(sides) == 1 and sides[0] != BOTH else []
        paragraph = folded.rfind("\n\n", 0, start)
        head = paragraph + 2 if paragraph >= 0 else 0
        heading = self._paragraph_side.match(folded, head)
        if heading is None or (paragraph < 0 and "\n" not in folded[head:start]):
            return []
        sides = self._sides_in(folded, head, start)
        return sides if len(sides) == 1 and sides[0] != BOTH else []

    def _sides_in(self, folded: str, begin: int, end: int) -> list[str]:
        named = (
            self._word_of.get(phrase_key(h.group())) for h in self._sides_rx.finditer(folded, begin, end)
        )
        return list(dict.fromkeys(s for s in named if s))

    def _combine(self, sides: Sequence[str], positions: Sequence[str]) -> tuple[str, ...]:
        """Keys for sides x positions. Both sides with positions are the lobes of each
        side ("both lower lobes" -> right and left lower lobe); a side alone is its lung."""
        if BOTH in sides or (RIGHT in sides and LEFT in sides):
            sides = [RIGHT, LEFT] if positions else [BOTH]
        keys: list[str] = []
        for side in sides or [""]:
            if not positions:
                keys.append(self._keys.get(side, ""))
            for position in positions:
                if side == LEFT and position == MIDDLE and RIGHT in sides:
                    continue  # "both middle lobes": there is one, on the right
                name = f"{side} {position}".strip()
                keys.append(self._keys.get(name, ""))
        return tuple(dict.fromkeys(k for k in keys if k))

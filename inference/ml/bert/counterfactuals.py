"""Counterfactual training sentences: a real sentence of the site's corpus with one
finding phrase swapped for a near miss, relabelled by the rule engine.

    variants = engine_counterfactuals(engine, texts=corpus_texts)
    variants.of("Small bilateral pleural effusion.", rng)
    # ["Small bilateral pleural thickening.", "Small bilateral pericardial effusion."]

Why: a small encoder trained on a few hundred reports learns which words co-occur with
a key, not which phrase names it. In real chest CT reports "pleural effusion",
"pleural thickening" and "pericardial effusion" share words and sentences, so the model
fires pleural effusion on the other two (measured on the development reports). A
sentence that differs from a real one only in the finding phrase, with the label the
rules give it, is the cheapest way to show the model that the phrase decides.

Up to three variants per sentence, each on the rule engine's reading of it:

1. lexical near miss: the phrase becomes a literal lexicon value of another finding key
   that shares a content word with it ("pleural effusion" -> "pleural plaque",
   "peribronchial thickening" -> "septal thickening", and back);
2. outside organ: the phrase is placed in an organ outside the lungs and pleura
   ("pleural effusion" -> "pericardial effusion", "nodule" -> "thyroid nodule"). Only
   organ words this site's own reports put directly before that key's phrases are used,
   so the variants are phrasings the corpus has ("hepatic effusion" is never made);
3. negation removed: a sentence whose finding the rules read as negated or historical
   loses its negation triggers ("No mass or nodule was detected." -> "Mass or nodule was
   detected."; "Effusion was not observed." -> "Effusion was observed."). The model saw
   "No metastatic nodule or mass was observed" as a nodule: the pair says the trigger
   decides, not the finding words.

The caller relabels every variant with the same rule engine that gave the real
sentences their targets, so a variant's target is what the rules read, not what the
swap meant. Plain Python, no Django.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_LAST_WORD = re.compile(r"([^\W\d_]+)[ \t]+$")
_FUNCTION_WORDS = frozenset({"of", "the", "in", "on", "and", "or", "with", "a", "an", "to", "along"})
# An organ word must precede a key's phrase this often in the corpus to be used for it.
MIN_ORGAN_COUNT = 2


@dataclass(frozen=True, slots=True)
class Phrase:
    """A finding phrase the rules matched: [start, end) in the text, its key, and whether
    the rules set it aside as outside the lungs and pleura."""

    start: int
    end: int
    key: str
    outside: bool
    status: str = "positive"


PhraseFinder = Callable[[str], Sequence[Phrase]]
# A text's assertion triggers as (start, end, category): AssertionDetector.triggers.
TriggerFinder = Callable[[str, Sequence[tuple[int, int]]], Sequence[tuple[int, int, str]]]
NEGATING_STATUSES = frozenset({"negated", "historical"})
NEGATING_TRIGGERS = frozenset({"NEG", "HIST"})


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _FUNCTION_WORDS and len(w) > 2)


def _script(text: str) -> str:
    return "latin" if re.search(r"[A-Za-z]", text) else "other"


class Counterfactuals:
    """Near-miss variants of sentences (see the module docstring)."""

    def __init__(
        self,
        finder: PhraseFinder,
        phrases: Mapping[str, Sequence[str]],
        *,
        organ_words: Iterable[str],
        inside_words: Iterable[str],
        triggers: TriggerFinder | None = None,
    ) -> None:
        self.finder = finder
        self.triggers = triggers
        self.inside = frozenset(w.lower() for w in inside_words)
        self.organ_words = frozenset(w.lower() for w in organ_words if " " not in w)
        self._near: dict[str, list[tuple[str, str]]] = {}  # phrase -> [(other key, its value)]
        by_word: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, values in phrases.items():
            for value in values:
                for word in _content_words(value):
                    by_word[word].append((key, value))
        self._by_word = by_word
        self.organs: dict[str, list[str]] = {}  # key -> organ words seen before its phrases

    def learn_organs(self, texts: Iterable[str]) -> None:
        """Which organ words the corpus writes directly before each key's phrase, when the
        rules set the mention aside as outside ("pericardial effusion", "thyroid nodule")."""
        seen: dict[str, Counter[str]] = defaultdict(Counter)
        for text in texts:
            for phrase in self.finder(text):
                if not phrase.outside:
                    continue
                before = _WORD.findall(text[max(0, phrase.start - 40) : phrase.start].lower())
                if before and before[-1] in self.organ_words:
                    seen[phrase.key][before[-1]] += 1
        common = {
            key: sorted(w for w, n in counts.items() if n >= MIN_ORGAN_COUNT) for key, counts in seen.items()
        }
        self.organs = {key: words for key, words in common.items() if words}

    def near_misses(self, key: str, text: str) -> list[str]:
        """Literal values of other keys sharing a content word with `text`, same script."""
        cached = self._near.get(text.lower())
        if cached is None:
            found = {
                (other, value)
                for word in _content_words(text)
                for other, value in self._by_word.get(word, ())
                if other != key and _script(value) == _script(text)
            }
            cached = sorted(found)
            self._near[text.lower()] = cached
        return [value for _, value in cached]

    def of(self, sentence: str, rng: np.random.Generator) -> list[str]:
        """Up to three variants of `sentence`: one near-miss swap, one outside-organ swap,
        each of a randomly chosen finding phrase in it that the rules read as inside, and
        the sentence without its negation triggers when one of those is negated."""
        found = self.finder(sentence)
        phrases = [p for p in found if not p.outside and p.end > p.start]
        if not phrases:
            return []
        out: list[str] = []
        if self.triggers is not None and any(p.status in NEGATING_STATUSES for p in phrases):
            affirmed = _without(
                sentence,
                [
                    (s, e)
                    for s, e, category in self.triggers(sentence, [(p.start, p.end) for p in found])
                    if category in NEGATING_TRIGGERS
                ],
            )
            if affirmed:
                out.append(affirmed)
        order = rng.permutation(len(phrases)).tolist()
        near = next(
            (
                (phrases[i], options)
                for i in order
                if (options := self.near_misses(phrases[i].key, sentence[phrases[i].start : phrases[i].end]))
            ),
            None,
        )
        if near is not None:
            phrase, options = near
            out.append(_swap(sentence, phrase, options[int(rng.integers(len(options)))]))
        organ = next((phrases[i] for i in order if self.organs.get(phrases[i].key)), None)
        if organ is not None:
            words = self.organs[organ.key]
            out.append(self._in_organ(sentence, organ, words[int(rng.integers(len(words)))]))
        return [v for v in out if v != sentence]

    def _in_organ(self, sentence: str, phrase: Phrase, organ: str) -> str:
        text = sentence[phrase.start : phrase.end]
        head, _, rest = text.partition(" ")
        if rest and head.lower() in self.inside:  # "pleural effusion" -> "pericardial effusion"
            return _swap(sentence, phrase, f"{organ} {rest}")
        inside = _LAST_WORD.search(sentence[: phrase.start])
        if inside and inside.group(1).lower() in self.inside:  # "pulmonary nodule" -> "thyroid nodule"
            return f"{sentence[: inside.start(1)]}{organ} {text}{sentence[phrase.end :]}"
        return _swap(sentence, phrase, f"{organ} {text}")


def _without(sentence: str, spans: Sequence[tuple[int, int]]) -> str:
    """`sentence` with the spans cut out, spaces closed up, its first letter's case kept;
    "" when nothing was cut."""
    if not spans:
        return ""
    parts, cursor = [], 0
    for start, end in sorted(spans):
        if start >= cursor:
            parts.append(sentence[cursor:start])
            cursor = end
    parts.append(sentence[cursor:])
    text = re.sub(r"[ \t]{2,}", " ", "".join(parts)).strip(" \t,;:")
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    if text and sentence[:1].isupper():
        text = text[:1].upper() + text[1:]
    return text


def _swap(sentence: str, phrase: Phrase, replacement: str) -> str:
    original = sentence[phrase.start : phrase.end]
    if original[:1].isupper():
        replacement = replacement[:1].upper() + replacement[1:]
    return f"{sentence[: phrase.start]}{replacement}{sentence[phrase.end :]}"


def engine_counterfactuals(engine: Any, *, texts: Iterable[str] = ()) -> Counterfactuals:
    """Counterfactuals from a RuleEngine: its finding mentions, its finding keys' literal
    lexicon values, its outside-organ and inside words; organ words learnt from `texts`."""
    finding_keys = set(engine.finding_keys)
    phrases: dict[str, list[str]] = defaultdict(list)
    for value in engine.matcher.values:
        if str(value.key) in finding_keys and value.kind == "keyword":
            phrases[str(value.key)].append(value.text)

    def finder(text: str) -> list[Phrase]:
        return [
            Phrase(m.start, m.end, str(m.key), bool(m.outside), str(m.status))
            for m in engine.extract(text).mentions
        ]

    out = Counterfactuals(
        finder,
        phrases,
        organ_words=engine.rules.outside_organs,
        inside_words=engine.rules.inside_words,
        triggers=engine.detector.triggers,
    )
    out.learn_organs(texts)
    return out

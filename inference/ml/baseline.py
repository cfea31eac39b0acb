"""The method's rule-based relationship baseline: a finding and a target are
related when they are mentioned in the same sentence.

    matcher = Matcher(lexicon_values(lexicon))
    chest_ct_baseline(text, matcher, lesions=..., locations=..., implicit=...)   # gold-file shaped
    pair_same_sentence(matcher.find(text), SEGMENTER.sentences(text), findings=..., targets=...)

Mentions come from the text engine's matcher (text.matcher), sentences from its
segmentation (text.segment: lines, ".", "!", "?" before whitespace except after
abbreviations such as "Rt.", quote marks, Korean sentence-final predicates).
Pairing: a finding key and a target key (lesion -> location, diagnosis ->
episode) are paired when mentions of both occur in the same sentence. No
negation handling: that is the baseline as the method defines it; the rule
engine (inference.ml.engine) is what adds assertions and cross-sentence links.
Plain Python, no Django.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from inference.ml.text.location_keys import LocationTree
from inference.ml.text.matcher import Match, Matcher
from inference.ml.text.segment import Segmenter, Sentence

# No section headings: a heading starts a line, and the line break already ends
# the sentence before it, so they would change no pair.
SEGMENTER = Segmenter()


def sentence_index(matches: Iterable[Match], spans: Sequence[Sentence]) -> dict[Match, int]:
    """For each match, the index of the sentence it starts in (-1 if between sentences)."""
    starts = [s.start for s in spans]
    out = {}
    for m in matches:
        i = bisect_right(starts, m.start) - 1
        out[m] = i if i >= 0 and m.start < spans[i].end else -1
    return out


def pair_same_sentence(
    matches: Sequence[Match],
    spans: Sequence[Sentence],
    *,
    findings: Iterable[str],
    targets: Iterable[str],
) -> dict[str, list[str]]:
    """finding key -> target keys that share a sentence with one of its mentions
    (targets in order of first appearance). Every found finding key is present,
    possibly with an empty list. A value listed under several keys counts for each."""
    finding_keys, target_keys = set(findings), set(targets)
    where = sentence_index(matches, spans)
    by_sentence: dict[int, list[str]] = {}
    for m in matches:
        for key in m.keys:
            if key in target_keys:
                by_sentence.setdefault(where[m], []).append(str(key))
    pairs: dict[str, list[str]] = {}
    for m in matches:
        sentence = where[m]
        for key in m.keys:
            if key not in finding_keys:
                continue
            found = pairs.setdefault(str(key), [])
            for target in by_sentence.get(sentence, []) if sentence >= 0 else []:
                if target not in found:
                    found.append(target)
    return pairs


def _pairs(
    text: str, matcher: Matcher, findings: Iterable[str], targets: Iterable[str]
) -> dict[str, list[str]]:
    return pair_same_sentence(
        matcher.find(text), SEGMENTER.sentences(text), findings=findings, targets=targets
    )


def chest_ct_baseline(
    text: str,
    matcher: Matcher,
    *,
    lesions: Sequence[str],
    locations: Sequence[str],
    implicit: Mapping[str, str],
    tree: LocationTree | None = None,
) -> dict[str, Any]:
    """Gold-file-shaped prediction: every lesion found is "present" with the locations
    that share a sentence with it, through the one location normalisation when `tree`
    is given (text.location_keys); implicit-location lesions get their location."""
    pairs = _pairs(text, matcher, lesions, locations)
    out = {}
    for key, paired in pairs.items():
        located = tree.normalise(paired) if tree is not None else paired
        out[key] = {"status": "present", "locations": [implicit[key]] if key in implicit else located}
    return {"lesions": out}


def brain_mri_baseline(
    text: str,
    matcher: Matcher,
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
    found = _pairs(text, matcher, [*diagnoses, *non_tumor], episodes)
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

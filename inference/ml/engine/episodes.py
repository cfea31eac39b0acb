"""Brain MRI episodes: comparison cues (progression / stable / improvement) read with
their assertion and linked to the malignant diagnosis they are about.

    reader = EpisodeReader(lexicon, episodes=keys.episodes, malignant=keys.malignant,
                           triggers=rules.triggers, words=rules.episode_words)
    cues = reader.read(text, folded, sentences, mentions)     # mentions: the engine's diagnoses
    episode_of(cues, "metastasis")                            # ("progression", flags, cue)

The cue words are the schema's Episode values; the word groups that change their
reading are rules data (`episode_words`): `treatment_effect` (pseudoprogression,
radiation necrosis: a progression cue beside them is not read as progression),
`other_subject` (ventricles, sinuses: a cue about them is about no tumour) and
`tumor_word` (mass, enhancing lesion: the cue speaks of a tumour).

Reading, per cue:

* assertion by the trigger table without its PSEUDO rows (those keep "no increase"
  from negating the finding after it; here "no increase" is exactly what is read).
  A progression or improvement cue is read by its last word, so a trigger that ends
  inside the cue ("no new" of "no new lesion") still applies. A stable cue is read
  whole: its own words are often a negation ("no change", "변화 없음");
* negated progression or improvement ("no evidence of progression", "no new
  lesion", "감소 소견 없음") says the tumour did not change: a weak stable;
  hedged ("cannot exclude progression", "suspicious for progression") keeps its key
  with the flag `episode_uncertain`; a progression cue in a sentence with a
  treatment-effect word is no progression (flag `treatment_effect`).

Linking, nearest evidence first: the cue's clause, then its sentence (the nearest
diagnosis mention, of any group: a cue nearest a meningioma or an infarct is about
it, not about the tumour); a cue about an `other_subject` goes nowhere; then the
nearest earlier sentence of the same section that names a diagnosis (a description
continued: "... mass in the left frontal lobe. It has increased in size."); then,
for a cue that has none of these (an impression line restating "Increased size of
the enhancing mass"), the report's malignant diagnosis when there is one, else the
malignant mention nearest before it. Plain Python, no Django.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from inference.ml.text.assertion import HISTORICAL, NEGATED, POSITIVE, UNCERTAIN, AssertionDetector
from inference.ml.text.lexicon import Lexicon, lexicon_values
from inference.ml.text.matcher import Matcher
from inference.ml.text.patterns import phrase_key
from inference.ml.text.segment import Sentence, Span, clauses
from inference.ml.text.triggers import Trigger

PROGRESSION, STABLE, IMPROVEMENT = "progression", "stable", "improvement"
# How far back a cue sentence may continue about a diagnosis named before it.
_BACK_SENTENCES = 2

FLAG_NO_EPISODE = "no_episode"
FLAG_EPISODE_UNCERTAIN = "episode_uncertain"
FLAG_EPISODE_NEGATION = "episode_from_negation"
FLAG_TREATMENT = "treatment_effect"
FLAG_MIXED_EPISODE = "mixed_episode"
FLAG_EPISODE_WEAK_LINK = "episode_weak_link"


class DiagnosisMention(Protocol):
    key: str
    start: int
    end: int
    status: str
    sentence: int


@dataclass(slots=True)
class EpisodeCue:
    key: str  # the Episode key its words name
    start: int
    end: int
    status: str  # the cue's assertion: positive | uncertain | negated | historical
    sentence: int
    treatment: bool = False  # a treatment-effect word shares its sentence
    diagnosis: str | None = None  # the malignant diagnosis it is linked to
    link: str = ""  # clause | sentence | previous | report | nearest

    @property
    def reading(self) -> str | None:
        """The episode this cue gives its diagnosis, if any."""
        if self.status == NEGATED:
            return STABLE if self.key != STABLE else None
        if self.treatment and self.key == PROGRESSION:
            return None
        return self.key


@dataclass(slots=True)
class Episode:
    key: str | None
    flags: list[str] = field(default_factory=list)
    cue: EpisodeCue | None = None


class EpisodeReader:
    def __init__(
        self,
        lexicon: Lexicon,
        *,
        episodes: Sequence[str],
        malignant: Sequence[str],
        triggers: Iterable[Trigger],
        words: Mapping[str, Any],
    ) -> None:
        self.episodes = tuple(episodes)
        self.malignant = frozenset(malignant)
        self.matcher = Matcher(lexicon_values(lexicon, keys=set(self.episodes)))
        # Without PSEUDO rows: "no increase", "no progression" are what a cue's negation is.
        self.detector = AssertionDetector([t for t in triggers if t[1] != "PSEUDO"], historical=True)
        self._treatment = _words(words.get("treatment_effect", ()))
        self._other = _words(words.get("other_subject", ()))
        self._tumor = _words(words.get("tumor_word", ()))

    def read(
        self,
        text: str,
        folded: str,
        sentences: Sequence[Sentence],
        mentions: Sequence[DiagnosisMention],
    ) -> list[EpisodeCue]:
        """The report's cues, each linked to a malignant diagnosis or to none.
        `mentions` are every diagnosis and non-tumor mention the engine found."""
        starts = [s.start for s in sentences]
        cues = []
        hits = [(m.start, m.end, str(k)) for m in self.matcher.find(text, folded) for k in m.keys[:1]]
        spans = [(s, e) if key == STABLE else (_last_word(folded, s, e), e) for s, e, key in hits]
        statuses = self.detector.statuses(text, spans, folded)
        for (start, end, key), status in zip(hits, statuses, strict=True):
            i = bisect_right(starts, start) - 1
            if i < 0 or start >= sentences[i].end:
                continue
            cue = EpisodeCue(key, start, end, status, i)
            clause = _clause_of(clauses(text, sentences[i]), start)
            body = folded[clause.start : clause.end]
            # Sentence-wide: "Increased enhancement at the margin, probably pseudoprogression."
            cue.treatment = bool(self._treatment.search(folded, sentences[i].start, sentences[i].end))
            self._link(cue, clause, body, sentences, mentions)
            cues.append(cue)
        return cues

    def _link(
        self,
        cue: EpisodeCue,
        clause: Span,
        body: str,
        sentences: Sequence[Sentence],
        mentions: Sequence[DiagnosisMention],
    ) -> None:
        in_clause = [m for m in mentions if clause.start <= m.start < clause.end]
        in_sentence = [m for m in mentions if m.sentence == cue.sentence]
        for scope, link in ((in_clause, "clause"), (in_sentence, "sentence")):
            if scope:
                nearest = min(scope, key=lambda m: (_distance(cue, m), m.start > cue.start))
                if nearest.key in self.malignant:
                    cue.diagnosis, cue.link = nearest.key, link
                return
        if self._other.search(body):
            return
        section = sentences[cue.sentence].section
        for back in range(1, _BACK_SENTENCES + 1):
            j = cue.sentence - back
            if j < 0 or sentences[j].section != section:
                break
            before = [m for m in mentions if m.sentence == j]
            if not before:
                continue
            malignant = [m for m in before if m.key in self.malignant]
            if malignant:
                cue.diagnosis, cue.link = malignant[-1].key, "previous"
                return
            if not self._tumor.search(body):
                return  # the sentence before names only a non-malignant finding: it continues about it
            break
        present = {m.key for m in mentions if m.key in self.malignant and m.status in (POSITIVE, UNCERTAIN)}
        if len(present) == 1:
            cue.diagnosis, cue.link = next(iter(present)), "report"
            return
        earlier = [m for m in mentions if m.key in present and m.start < cue.start]
        later = [m for m in mentions if m.key in present and m.start > cue.start]
        closest = earlier[-1] if earlier else (later[0] if later else None)
        if closest is not None:
            cue.diagnosis, cue.link = closest.key, "nearest"


def episode_of(cues: Sequence[EpisodeCue], diagnosis: str) -> Episode:
    """A diagnosis's one episode from its cues: an affirmed cue first (the first in the
    text, as the gold convention keeps the first pair), then a hedged one, then the
    stable a denied change gives; none: `no_episode`."""
    mine = sorted((c for c in cues if c.diagnosis == diagnosis), key=lambda c: c.start)
    flags: list[str] = []
    if any(c.treatment and c.key == PROGRESSION for c in mine):
        flags.append(FLAG_TREATMENT)
    affirmed = [c for c in mine if c.status in (POSITIVE, HISTORICAL) and c.reading]
    hedged = [c for c in mine if c.status == UNCERTAIN and c.reading]
    denied = [c for c in mine if c.status == NEGATED and c.reading]
    chosen: EpisodeCue | None = None
    if affirmed:
        chosen = affirmed[0]
        if len({c.reading for c in affirmed}) > 1:
            flags.append(FLAG_MIXED_EPISODE)
    elif hedged:
        chosen = hedged[0]
        flags.append(FLAG_EPISODE_UNCERTAIN)
    elif denied:
        chosen = denied[0]
        flags.append(FLAG_EPISODE_NEGATION)
    if chosen is None:
        return Episode(None, [*flags, FLAG_NO_EPISODE])
    if chosen.link in ("report", "nearest"):
        flags.append(FLAG_EPISODE_WEAK_LINK)
    return Episode(chosen.reading, flags, chosen)


def _words(words: Iterable[str]) -> re.Pattern[str]:
    keys = sorted({phrase_key(w) for w in words if w.strip()}, key=len, reverse=True)
    if not keys:
        return re.compile(r"(?!x)x")
    body = "|".join(r"[\s-]+".join(re.escape(p) for p in re.split(r"[\s-]+", k)) for k in keys)
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


def _last_word(folded: str, start: int, end: int) -> int:
    cut = max(folded.rfind(" ", start, end), folded.rfind("-", start, end))
    return cut + 1 if cut >= start else start


def _clause_of(spans: Sequence[Span], offset: int) -> Span:
    best = spans[0]
    for span in spans:
        if span.start <= offset:
            best = span
    return best


def _distance(cue: EpisodeCue, m: DiagnosisMention) -> int:
    return cue.start - m.end if m.start < cue.start else m.start - cue.end

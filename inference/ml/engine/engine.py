"""The rule engine: lexicon matches, assertions with bounded scopes, and
lesion-location links that reach beyond one sentence.

    engine = RuleEngine.for_chest_ct(lexicon)              # default rules
    result = engine.extract(report_text)
    result.findings  # [EngineFinding(key, status, locations, evidence, flags, ...)]
    result.as_gold() # {"lesions": {key: {"status", "locations"}}}

Steps, all rules and data (nothing learned):

1. one pass of the compiled lexicon (text.matcher) for findings
   and locations, plus the location grammar (locations.py) for laterality and
   lobe phrases; a grammar phrase wins over a lexicon location it overlaps;
2. sections, sentences, clauses (text.segment);
3. each finding mention's assertion (text.assertion with the
   HIST category kept: positive / uncertain / negated / historical), scopes
   bounded by sentences and terminators; a mention whose clause names an organ
   outside the lungs and pleura ("thyroid nodule", "pericardial effusion") is
   set aside (`outside`);
4. links, nearest evidence first: the mention's own clause; a location-only
   clause of the same sentence (a list continuation "…, left lower lobe and
   lingula", or a lead-in "In the right lung, …"); a following list clause
   ("Nodule, consolidation and atelectasis in the RLL"); a location-only
   heading sentence before it ("Right lung:"); the next sentence when it
   continues about the same finding (it names the same key, starts with an
   anaphor such as "It is located …", or is only a location: "Location: RML.");
   then other mentions of the same key anywhere in the report (a finding described in the findings section and
   located in the impression);
5. one finding per key: positive beats uncertain beats historical beats
   negated; locations are the union over its present mentions; implicit
   locations (pleural effusion -> pleura) replace linking.

Each finding carries flags a combined extractor or a reviewer acts on:
no_location, mixed_assertion (present and negated mentions), weak_location,
outside_mention, cross_sentence_location. Plain Python, no Django.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from inference.ml.defaults import default_ruleset
from inference.ml.engine.episodes import EpisodeCue, EpisodeReader, episode_of
from inference.ml.engine.locations import LocationGrammar, LocationMention
from inference.ml.llm.schemas import BrainKeys, ChestKeys
from inference.ml.text.assertion import HISTORICAL, NEGATED, POSITIVE, UNCERTAIN, AssertionDetector
from inference.ml.text.lexicon import Lexicon, lexicon_values
from inference.ml.text.matcher import Matcher, Value
from inference.ml.text.patterns import fold, phrase_key
from inference.ml.text.rules import RuleSet
from inference.ml.text.segment import Segmenter, Sentence, Span, clauses

# Engine status -> the stage 2 status vocabulary (present / uncertain / negated).
STAGE2_STATUS = {POSITIVE: "present", UNCERTAIN: "uncertain", NEGATED: "negated", HISTORICAL: "negated"}
_RANK = {POSITIVE: 0, UNCERTAIN: 1, HISTORICAL: 2, NEGATED: 3}

FLAG_NO_LOCATION = "no_location"
FLAG_MIXED = "mixed_assertion"
FLAG_WEAK_LOCATION = "weak_location"
FLAG_OUTSIDE = "outside_mention"
FLAG_CROSS_SENTENCE = "cross_sentence_location"
FLAG_HISTORICAL = "historical"


@dataclass(slots=True)
class FindingMention:
    key: str
    start: int
    end: int
    status: str
    sentence: int
    section: str
    outside: bool = False
    locations: list[str] = field(default_factory=list)
    link: str = ""  # how the locations were found: clause | sentence | list | heading | next_sentence | key
    weak: bool = False


@dataclass(slots=True)
class EngineFinding:
    key: str
    status: str  # positive | uncertain | negated | historical
    locations: list[str] = field(default_factory=list)
    evidence: str = ""
    evidence_span: tuple[int, int] | None = None
    link: str = ""
    flags: list[str] = field(default_factory=list)
    mentions: int = 0
    episode: str | None = None  # brain MRI, malignant diagnoses (episodes.py)
    episode_evidence: str = ""
    episode_evidence_span: tuple[int, int] | None = None

    @property
    def present(self) -> bool:
        return self.status in (POSITIVE, UNCERTAIN)

    @property
    def stage2_status(self) -> str:
        return STAGE2_STATUS[self.status]


@dataclass(slots=True)
class EngineResult:
    findings: list[EngineFinding]
    mentions: list[FindingMention]
    sentences: int
    parse_ok: bool
    parse_problems: list[str]
    seconds: float
    rules_version: str
    cues: list[EpisodeCue] = field(default_factory=list)
    brain: BrainKeys | None = None  # set for a brain MRI engine: the result's gold shape is brain's
    # What the combined mode's questions are cut from: every location phrase read, and
    # each sentence's [start, end) offsets.
    location_mentions: list[LocationMention] = field(default_factory=list)
    sentence_spans: list[tuple[int, int]] = field(default_factory=list)

    def by_key(self) -> dict[str, EngineFinding]:
        return {f.key: f for f in self.findings}

    def present_keys(self) -> set[str]:
        return {f.key for f in self.findings if f.present}

    def as_gold(self) -> dict[str, Any]:
        if self.brain is not None:
            return self._brain_gold(self.brain)
        return {
            "lesions": {
                f.key: {"status": f.stage2_status, "locations": list(f.locations)}
                for f in self.findings
                if f.present or f.status in (NEGATED, HISTORICAL)
            }
        }

    def _brain_gold(self, keys: BrainKeys) -> dict[str, Any]:
        """Diagnoses with status (and episode for the malignant ones); the detail keys
        that are present; a detail makes "other non-tumor" at least as strong."""
        details = set(keys.non_tumor)
        diagnoses: dict[str, dict[str, Any]] = {}
        for f in self.findings:
            if f.key in details:
                continue
            entry: dict[str, Any] = {"status": f.stage2_status}
            if f.key in keys.malignant:
                entry["episode"] = f.episode if f.present else None
            diagnoses[f.key] = entry
        affirmed = [f for f in self.findings if f.key in details and f.present]
        if affirmed:
            strongest = min(affirmed, key=lambda f: _RANK[f.status]).stage2_status
            current = diagnoses.get(keys.other_non_tumor, {}).get("status")
            if current not in ("present", strongest):
                diagnoses[keys.other_non_tumor] = {"status": strongest}
        non_tumor = [f.key for f in affirmed if f.status == POSITIVE]
        return {"diagnoses": diagnoses, "non_tumor": non_tumor}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# "the mass", "this nodule", "the described lesion": a mention that refers back.
_DEFINITE = re.compile(
    r"(?<![a-z])(?:the|this|that|these|those|said|described|mentioned|aforementioned)\s+(?:[a-z-]+\s+)?$"
)
_LONG_SENTENCE_WORDS = 120  # a "sentence" this long means segmentation failed (no punctuation)


class RuleEngine:
    """Build once per schema/rules version and reuse: compiling costs milliseconds."""

    def __init__(
        self,
        lexicon: Lexicon,
        *,
        findings: Sequence[str],
        locations: Sequence[str],
        implicit: Mapping[str, str] | None = None,
        rules: RuleSet | None = None,
        brain: BrainKeys | None = None,
    ) -> None:
        self.rules = rules or default_ruleset()
        self.brain = brain
        self.finding_keys = tuple(findings)
        self.location_keys = tuple(locations)
        self.implicit = dict(implicit or {})
        values = lexicon_values(lexicon, keys={*self.finding_keys, *self.location_keys})
        values += _plural_variants(values)
        self.matcher = Matcher(values)
        self.detector = AssertionDetector(self.rules.triggers, historical=True)
        self.segmenter = Segmenter(self.rules.sections)
        self.grammar = LocationGrammar(self.rules.location_words, known_keys=self.location_keys)
        self.location_tree = self.rules.location_tree
        words = self.rules.location_words
        self._only_for = _only_for(words.get("only_for"))
        self._blocked_before = _word_regex(_list(words.get("blocked_by_preceding")), suffix=r"\s*$")
        self._blocked_after = _word_regex(_list(words.get("blocked_by_following")), anchored=True)
        self._referring = _word_regex(_list(words.get("referring")))
        self._verbs = _word_regex(_list(words.get("verbs")))
        self._outside = _word_regex(self.rules.outside_organs)
        self._inside = _word_regex(self.rules.inside_words)
        self._anaphora = _word_regex(self.rules.anaphora, anchored=True)
        self._heads = re.compile(rf"[\s-]*(?:{_word_regex(self.rules.modified_heads).pattern})")
        self._extrapulmonary = set(self.rules.extrapulmonary_locations)
        # "liver parenchyma", "renal parenchymal": an inside word owned by an organ outside.
        self._owned_inside = re.compile(
            rf"{self._outside.pattern}\s+(?:{self._inside.pattern})", re.IGNORECASE
        )
        self.episodes = (
            EpisodeReader(
                lexicon,
                episodes=brain.episodes,
                malignant=brain.malignant,
                triggers=self.rules.triggers,
                words=self.rules.episode_words,
            )
            if brain is not None
            else None
        )

    @classmethod
    def for_chest_ct(cls, lexicon: Lexicon, *, rules: RuleSet | None = None) -> RuleEngine:
        keys = ChestKeys()
        return cls(
            lexicon, findings=keys.lesions, locations=keys.locations, implicit=keys.implicit, rules=rules
        )

    @classmethod
    def for_brain_mri(
        cls, lexicon: Lexicon, *, keys: BrainKeys | None = None, rules: RuleSet | None = None
    ) -> RuleEngine:
        """Diagnoses and non-tumor details with assertions, and each malignant
        diagnosis's episode (episodes.py); no locations."""
        keys = keys or BrainKeys()
        return cls(
            lexicon, findings=(*keys.diagnoses, *keys.non_tumor), locations=(), rules=rules, brain=keys
        )

    # -- the pipeline ---------------------------------------------------------------------

    def extract(self, text: str) -> EngineResult:
        started = time.perf_counter()
        folded = fold(text)
        sentences = self.segmenter.sentences(text, folded)
        sentence_starts = [s.start for s in sentences]
        finding_hits, location_hits = self._mentions(text, folded)
        statuses = self.detector.statuses(text, [(s, e) for s, e, _ in finding_hits], folded)
        mentions: list[FindingMention] = []
        for (start, end, key), status in zip(finding_hits, statuses, strict=True):
            sentence = _sentence_at(sentences, sentence_starts, start)
            section = sentences[sentence].section if sentence >= 0 else "findings"
            mentions.append(FindingMention(key, start, end, status, sentence, section))
        self._link(text, folded, sentences, mentions, location_hits)
        problems = self._parse_problems(text, sentences)
        findings = self._findings(text, mentions)
        cues: list[EpisodeCue] = []
        if self.episodes is not None and self.brain is not None:
            cues = self.episodes.read(text, folded, sentences, [m for m in mentions if not m.outside])
            _set_episodes(text, findings, cues, self.brain)
        return EngineResult(
            findings=findings,
            mentions=mentions,
            sentences=len(sentences),
            parse_ok=not problems,
            parse_problems=problems,
            seconds=time.perf_counter() - started,
            rules_version=self.rules.version,
            cues=cues,
            brain=self.brain,
            location_mentions=list(location_hits),
            sentence_spans=[(s.start, s.end) for s in sentences],
        )

    def _mentions(self, text: str, folded: str) -> tuple[list[tuple[int, int, str]], list[LocationMention]]:
        findings: list[tuple[int, int, str]] = []
        lexicon_locations: list[LocationMention] = []
        finding_set, location_set = set(self.finding_keys), set(self.location_keys)
        matches = self.matcher.find(text, folded)
        for match in matches:
            keys = [str(k) for k in match.keys]
            if self._modifier(folded, match.start, match.end):
                continue
            for key in keys:
                if key in finding_set:
                    findings.append((match.start, match.end, key))
            located = tuple(k for k in keys if k in location_set)
            if located:
                lexicon_locations.append(LocationMention(located, match.start, match.end))
        # Where a grammar phrase and a lexicon value overlap, the longer wins ("right lung
        # base" over "right lung"); on a tie the grammar's (it reads the whole phrase).
        grammar = self.grammar.find(folded)
        candidates = sorted(
            [(g, 0) for g in grammar if not g.weak] + [(m, 1) for m in lexicon_locations],
            key=lambda item: (-(item[0].end - item[0].start), item[1], item[0].start),
        )
        locations: list[LocationMention] = []
        for candidate, _ in candidates:
            if not _overlaps(locations, candidate):
                locations.append(candidate)
        locations += [g for g in grammar if g.weak and not _overlaps(locations, g)]
        # A location word inside a finding phrase ("pleural" of "pleural effusion") is not a location.
        locations = [
            loc for loc in locations if not any(s <= loc.start and loc.end <= e for s, e, _ in findings)
        ]
        locations = [loc for loc in locations if not self._blocked(folded, loc)]
        locations.sort(key=lambda m: m.start)
        return findings, locations

    def _blocked(self, folded: str, loc: LocationMention) -> bool:
        """A location phrase that does not say where a finding is: "in the evaluation of
        both lungs", "pleural-based" (the lesion stays in its lobe), "adjacent to the pleura"."""
        before = folded[max(0, loc.start - 40) : loc.start]
        return bool(self._blocked_before.search(before) or self._blocked_after.match(folded, loc.end))

    def about_lungs(self, text: str) -> bool:
        """Whether a piece of text speaks of the lungs or pleura (an inside word or a
        location phrase): where a finding the lexicon missed would be."""
        folded = fold(text)
        return bool(self._inside.search(folded)) or bool(self.grammar.find(folded))

    def _modifier(self, folded: str, start: int, end: int) -> bool:
        """A one-word adjective form ("nodular", "fibrotic") describing another noun
        ("nodular consolidation", "nodular thickening of the pleura") names no finding."""
        word = folded[start:end]
        if " " in word or not word.endswith(("ar", "ic", "al", "ous", "ed")):
            return False
        return bool(self._heads.match(folded, end))

    def _link(
        self,
        text: str,
        folded: str,
        sentences: Sequence[Sentence],
        mentions: list[FindingMention],
        locations: Sequence[LocationMention],
    ) -> None:
        by_sentence_m: dict[int, list[FindingMention]] = {}
        for m in mentions:
            by_sentence_m.setdefault(m.sentence, []).append(m)
        starts = [s.start for s in sentences]
        by_sentence_l: dict[int, list[LocationMention]] = {}
        for loc in locations:
            by_sentence_l.setdefault(_sentence_at(sentences, starts, loc.start), []).append(loc)

        for index, sentence in enumerate(sentences):
            found = by_sentence_m.get(index, [])
            if not found:
                continue
            spans = clauses(text, sentence)
            clause_m: list[list[FindingMention]] = [[] for _ in spans]
            clause_l: list[list[LocationMention]] = [[] for _ in spans]
            for m in found:
                clause_m[_clause_at(spans, m.start)].append(m)
            for loc in by_sentence_l.get(index, []):
                clause_l[_clause_at(spans, loc.start)].append(loc)
            sentence_span = Span(sentence.start, sentence.end)
            sentence_l = by_sentence_l.get(index, [])
            for m in found:
                m.outside = self._is_outside(folded, sentence_span, sentence_l, m)
            self._link_sentence(folded, spans, clause_m, clause_l)
        self._inherit_outside(folded, sentences, mentions, by_sentence_l)
        self._link_referring(folded, sentences, mentions)

        # Across sentences: a location-only heading before, or the next sentence about the same finding.
        for m in mentions:
            if m.locations or m.outside or m.key in self.implicit or m.status not in (POSITIVE, UNCERTAIN):
                continue
            i = m.sentence
            nxt = i + 1
            if (
                i >= 0
                and nxt < len(sentences)
                and by_sentence_l.get(nxt)
                and sentences[nxt].section == sentences[i].section
            ):
                others = [
                    o
                    for o in by_sentence_m.get(nxt, [])
                    if o.key != m.key and o.status in (POSITIVE, UNCERTAIN)
                ]
                same = any(o.key == m.key for o in by_sentence_m.get(nxt, []))
                head = folded[sentences[nxt].start : sentences[nxt].end]
                # "Location: right middle lobe." / "In the RML." right after the finding.
                located_only = not by_sentence_m.get(nxt) and _location_only(
                    head, by_sentence_l[nxt], sentences[nxt].start
                )
                if not others and (same or located_only or self._anaphora.match(head)):
                    m.locations = _keys_of(by_sentence_l[nxt])
                    m.link, m.weak = "next_sentence", all(loc.weak for loc in by_sentence_l[nxt])
                    continue
            prev = i - 1
            if prev >= 0 and by_sentence_l.get(prev) and not by_sentence_m.get(prev):
                body = folded[sentences[prev].start : sentences[prev].end]
                if _location_only(body, by_sentence_l[prev], sentences[prev].start):
                    m.locations = _keys_of(by_sentence_l[prev])
                    m.link = "heading"

    def _link_referring(
        self, folded: str, sentences: Sequence[Sentence], mentions: Sequence[FindingMention]
    ) -> None:
        """ "Consolidation in the RUL ... ground glass around it", "atelectasis in its
        vicinity", "adjacent ground-glass areas": an unlocated finding that points at
        another one has its site. The referent is the nearest located present finding
        of another key before it, in the same or the previous sentence."""
        for index, m in enumerate(mentions):
            if m.locations or m.outside or m.key in self.implicit or m.status not in (POSITIVE, UNCERTAIN):
                continue
            if m.sentence < 0:
                continue
            sentence = sentences[m.sentence]
            near = folded[max(sentence.start, m.start - 30) : min(sentence.end, m.end + 80)]
            if not self._referring.search(near):
                continue
            referent = next(
                (
                    o
                    for o in reversed(mentions[:index])
                    if o.key != m.key
                    and o.locations
                    and not o.outside
                    and o.status in (POSITIVE, UNCERTAIN)
                    and m.sentence - o.sentence <= 1
                ),
                None,
            )
            if referent is not None:
                m.locations, m.link, m.weak = list(referent.locations), "referring", referent.weak

    def _inherit_outside(
        self,
        folded: str,
        sentences: Sequence[Sentence],
        mentions: Sequence[FindingMention],
        by_sentence_l: Mapping[int, Sequence[LocationMention]],
    ) -> None:
        """ "The mass surrounds the lumen" after "a mass in the gastric antrum": a definite
        mention with nothing of the lungs in its sentence is the outside one it refers to."""
        last: dict[str, FindingMention] = {}
        for m in mentions:
            before = last.get(m.key)
            last[m.key] = m
            if m.outside or before is None or not before.outside or m.sentence < 0:
                continue
            if m.sentence - before.sentence > 2 or not _DEFINITE.search(
                folded, max(0, m.start - 20), m.start
            ):
                continue
            sentence = sentences[m.sentence]
            body = folded[sentence.start : sentence.end]
            strong = [loc for loc in by_sentence_l.get(m.sentence, ()) if not loc.weak]
            if not strong and not self._inside.search(self._owned_inside.sub(" ", body)):
                m.outside = True

    def _link_sentence(
        self,
        folded: str,
        spans: Sequence[Span],
        clause_m: Sequence[list[FindingMention]],
        clause_l: Sequence[list[LocationMention]],
    ) -> None:
        n = len(spans)
        for i in range(n):
            for m in clause_m[i]:
                strong = [loc for loc in clause_l[i] if not loc.weak]
                if strong or clause_l[i]:
                    chosen = strong or clause_l[i]
                    m.locations, m.link, m.weak = _keys_of(chosen), "clause", not strong
        # Location-only clauses: a list continuation of the finding clause before, else a lead-in.
        for i in range(n):
            if clause_m[i] or not clause_l[i]:
                continue
            targets = _clauses_before(clause_m, clause_l, i)
            if not targets:
                # A lead-in ("In the right lung, X and Y are seen") covers the findings after
                # it up to the next clause that names its own location.
                for j in range(i + 1, n):
                    if clause_l[j]:
                        if clause_m[j] and not targets:
                            targets.append(j)
                        break
                    if clause_m[j]:
                        targets.append(j)
            extra = _keys_of(clause_l[i])
            for j in targets:
                for m in clause_m[j]:
                    m.locations = list(dict.fromkeys(m.locations + extra))
                    m.link = m.link or "sentence"

        # A list item ("Nodule, consolidation and atelectasis in the RLL", "Consolidations
        # with ground glass, septal thickening and nodular densities are observed in both
        # lungs") shares the locations of the item that has them: a short item, or one with
        # no verb of its own when the locations come after the shared verb.
        def verbless(i: int) -> bool:
            return not self._verbs.search(folded, spans[i].start, spans[i].end)

        for i in range(n):
            for m in clause_m[i]:
                if m.locations:
                    continue
                source = next((j for j in range(i + 1, n) if clause_m[j] and clause_l[j]), None)
                if source is None:
                    continue
                words = len(folded[spans[i].start : spans[i].end].split())
                shared = all(verbless(k) for k in range(i, source)) and self._predicate_located(
                    folded, spans[source], clause_l[source]
                )
                if words <= 4 or shared:
                    m.locations, m.link = _keys_of(clause_l[source]), "list"

    def _predicate_located(self, folded: str, span: Span, locations: Sequence[LocationMention]) -> bool:
        """Whether a clause's locations follow its verb ("... are observed in both lungs"),
        so that they belong to the whole subject list before it."""
        verb = self._verbs.search(folded, span.start, span.end)
        return verb is not None and all(loc.start >= verb.end() for loc in locations)

    def _is_outside(
        self, folded: str, clause: Span, locations: Sequence[LocationMention], m: FindingMention
    ) -> bool:
        """A sentence that names an organ outside the lungs and pleura and nothing that
        puts the finding back in them (a lung location, "pulmonary", "pleural")."""
        body = folded[clause.start : clause.end]
        mention = folded[m.start : m.end]
        if not self._outside.search(body):
            return False
        if self._inside.search(mention):
            return False
        # The organ right before the finding names whose finding it is ("pericardial effusion",
        # "thyroid nodule"), whatever else the sentence says.
        before = folded[max(clause.start, m.start - 40) : m.start].split()[-2:]
        if before and self._outside.search(" ".join(before)):
            return True
        if any(not loc.weak and not set(loc.keys) <= self._extrapulmonary for loc in locations):
            return False
        rest = body[: m.start - clause.start] + " " + body[m.end - clause.start :]
        return not self._inside.search(self._owned_inside.sub(" ", rest))

    def _findings(self, text: str, mentions: Sequence[FindingMention]) -> list[EngineFinding]:
        grouped: dict[str, list[FindingMention]] = {}
        for m in mentions:
            grouped.setdefault(m.key, []).append(m)
        out = []
        for key in self.finding_keys:
            members = grouped.get(key)
            if not members:
                continue
            inside = [m for m in members if not m.outside]
            flags: list[str] = []
            if len(inside) < len(members):
                flags.append(FLAG_OUTSIDE)
            if not inside:
                continue
            best = min(inside, key=lambda m: (_RANK[m.status], m.start))
            present = [m for m in inside if m.status in (POSITIVE, UNCERTAIN)]
            if present and any(m.status in (NEGATED, HISTORICAL) for m in inside):
                flags.append(FLAG_MIXED)
            if best.status == HISTORICAL:
                flags.append(FLAG_HISTORICAL)
            finding = EngineFinding(
                key,
                best.status,
                evidence=_sentence_text(text, best),
                evidence_span=(best.start, best.end),
                mentions=len(inside),
                flags=flags,
            )
            if present:
                if key in self.implicit:
                    finding.locations, finding.link = [self.implicit[key]], "implicit"
                else:
                    located = [m for m in present if m.locations]
                    if not located:
                        # A located mention of the same key elsewhere, even a negated one does
                        # not count; only present mentions carry locations.
                        finding.flags.append(FLAG_NO_LOCATION)
                    strong = [m for m in located if not m.weak] or located
                    finding.locations = self.location_tree.normalise(
                        loc for m in strong for loc in m.locations if self.may_have(key, loc)
                    )
                    links = {m.link for m in strong}
                    finding.link = ",".join(sorted(links))
                    if strong and all(m.weak for m in strong):
                        finding.flags.append(FLAG_WEAK_LOCATION)
                    if links & {"next_sentence", "heading", "referring"}:
                        finding.flags.append(FLAG_CROSS_SENTENCE)
            out.append(finding)
        return out

    def may_have(self, key: str, location: str) -> bool:
        """Some location keys belong to a few lesions only: the pleura to a pleural
        nodule or mass (a lung lesion by the pleura stays in its lobe), the
        mediastinum/hilum to a mass there: rules data "only_for" (LABELLING.md section 4)."""
        allowed = self._only_for.get(location)
        return allowed is None or key in allowed

    def _parse_problems(self, text: str, sentences: Sequence[Sentence]) -> list[str]:
        problems = []
        if text.strip() and not sentences:
            problems.append("no sentences")
        for s in sentences:
            if len(text[s.start : s.end].split()) > _LONG_SENTENCE_WORDS:
                problems.append("run-on sentence")
                break
        return problems


def _set_episodes(
    text: str, findings: Sequence[EngineFinding], cues: Sequence[EpisodeCue], keys: BrainKeys
) -> None:
    """Each affirmed malignant diagnosis's episode, its evidence and flags; a negated one has none."""
    for f in findings:
        if f.key not in keys.malignant or not f.present:
            continue
        episode = episode_of(cues, f.key)
        f.episode = episode.key
        f.flags += episode.flags
        if episode.cue is not None:
            f.episode_evidence_span = (episode.cue.start, episode.cue.end)
            f.episode_evidence = text[episode.cue.start : episode.cue.end]


def _plural_variants(values: Sequence[Value]) -> list[Value]:
    """English plurals of multi-letter keyword values ("septal thickening" ->
    "septal thickenings"): lexicons list the singular and reports write either."""
    known = {(v.key, phrase_key(v.text)) for v in values}
    out = []
    for v in values:
        text = phrase_key(v.text)
        if v.kind != "keyword" or len(text) < 4 or not text[-1].isascii() or not text[-1].isalpha():
            continue
        if text.endswith(("s", "x", "y", "ic", "al", "ar", "ed")):
            continue
        plural = (v.key, text + "s")
        if plural not in known:
            known.add(plural)
            out.append(Value(v.key, text + "s", "keyword", v.case_sensitive))
    return out


def _word_regex(words: Iterable[str], *, anchored: bool = False, suffix: str = "") -> re.Pattern[str]:
    keys = sorted({phrase_key(w) for w in words if w.strip()}, key=len, reverse=True)
    if not keys:
        return re.compile(r"(?!x)x")
    body = "|".join(r"\s+".join(re.escape(p) for p in k.split(" ")) for k in keys)
    if anchored:
        return re.compile(rf"\W*(?:{body})(?![a-z0-9])")
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9]){suffix}")


def _list(words: Any) -> list[str]:
    return [str(w) for w in words] if isinstance(words, list | tuple) else []


def _only_for(mapping: Any) -> dict[str, frozenset[str]]:
    """location key -> the lesion keys that may have it ("pleura": "nodule, mass")."""
    if not isinstance(mapping, Mapping):
        return {}
    return {
        str(loc): frozenset(k.strip() for k in str(keys).split(",") if k.strip())
        for loc, keys in mapping.items()
    }


def _overlaps(mentions: Sequence[LocationMention], other: LocationMention) -> bool:
    return any(m.start < other.end and other.start < m.end for m in mentions)


def _keys_of(locations: Iterable[LocationMention]) -> list[str]:
    return list(dict.fromkeys(k for loc in locations for k in loc.keys))


def _sentence_at(sentences: Sequence[Sentence], starts: Sequence[int], offset: int) -> int:
    i = bisect_right(starts, offset) - 1
    return i if i >= 0 and offset < sentences[i].end else -1


def _clause_at(spans: Sequence[Span], offset: int) -> int:
    best = 0
    for i, span in enumerate(spans):
        if span.start <= offset:
            best = i
    return best


def _clauses_before(
    clause_m: Sequence[Sequence[FindingMention]], clause_l: Sequence[Sequence[LocationMention]], i: int
) -> list[int]:
    """The finding clauses a location-only clause continues: the one right before it when
    that one has its own location ("nodule in the RUL, LLL and lingula"), else every
    finding clause before it back to one that has ("honeycombing and bronchiectasis
    ..., and especially in the lower lobes"). Location-only clauses between are the
    same list ("in the RUL, LLL and lingula")."""
    targets: list[int] = []
    for j in range(i - 1, -1, -1):
        if clause_m[j]:
            if clause_l[j]:
                if not targets:
                    targets.append(j)
                break
            targets.append(j)
    return targets


def _location_only(body: str, locations: Sequence[LocationMention], offset: int) -> bool:
    """A sentence that is only a location heading ("Right lung:", "In the left lung;")."""
    rest = body
    for loc in sorted(locations, key=lambda m: -m.start):
        rest = rest[: loc.start - offset] + rest[loc.end - offset :]
    return len(re.findall(r"[^\W\d_]+", rest)) <= 3


def _sentence_text(text: str, m: FindingMention) -> str:
    """The evidence quote: the mention with up to ~100 characters of its sentence around it."""
    left = max(
        text.rfind(".", 0, m.start), text.rfind("\n", 0, m.start), text.rfind('"', 0, m.start), m.start - 100
    )
    right_candidates = [
        i for i in (text.find(".", m.end), text.find("\n", m.end), text.find('"', m.end)) if i != -1
    ]
    right = min([*right_candidates, m.end + 100, len(text)])
    return text[left + 1 : right].strip()

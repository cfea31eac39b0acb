"""The combined extractor: the rule engine as the backbone, stage 1 where the
lexicon is silent, the LLM only where something needs deciding.

    extractor = CombinedExtractor(engine, stage1=predictor, llm=backend)
    result = extractor.extract(text)            # CombinedResult
    result.as_gold(); result.findings[0].source, .flags, .sources

Per lesion key of a chest CT report:

* the rule engine spoke (a lexicon value matched): its assertion and links
  decide (`source` "rules"); stage 1's probability is kept in `sources`;
* the lexicon is silent but stage 1 is confident (over its threshold and
  0.5 + margin) and measured precise on the key (the Wilson 95% lower bound of its
  precision on gold it never trained on at least `min_stage1_precision_lb`, 0.9):
  present (`source` "stage1", flag "lexicon_silent"), no location;
* a finding that needs deciding raises a question (inference/ml/questions.py):
  rules and stage 1 disagree beyond a margin (`status_disagree`), stage 1 alone
  found a lesion (`status_silent`), the report could not be segmented
  (`status_unparsed`), or a present lesion has no linked location while the
  sentences around it name some (`location`). The LLM is asked only the question
  types of the policy (`QuestionPolicy`: the site's, measured on its verified
  data), one short call per question with the sentences concerned and the
  candidate answers as an enum; its answer counts only with a quote found in
  those sentences (`source` "llm", or "rules+llm" for added locations, which go
  through the site's location normalisation). Every question, asked or held back,
  is kept in `questions` with the finding before and after, so the evaluate
  command can measure per type what asking is worth.

Per-key trust is measured, never assumed: stage 1 without stored per-key metrics
(`stage1_key_f1` None) neither adds findings nor sends disagreements to the LLM; a
confident disagreement with the rules is still flagged ("rules_stage1_disagree") for
the reviewer, trusted or not. Every disagreement stays in `flags` and every source's
verdict in `sources`; nothing is resolved silently. Plain Python, no Django: stage 1 is anything with
`predict(texts) -> [KeyPrediction]` plus `thresholds` or labels, the LLM any
`LLMBackend`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from inference.ml.engine.engine import STAGE2_STATUS, EngineFinding, EngineResult, RuleEngine
from inference.ml.llm.backends import LLMBackend, LLMError
from inference.ml.llm.mapping import Finding, StepCall, locate_evidence
from inference.ml.llm.schemas import ChestKeys
from inference.ml.questions import (
    LOCATION,
    NOT_MENTIONED,
    NOT_STATED,
    STATUS_DISAGREE,
    STATUS_SILENT,
    STATUS_UNPARSED,
    Question,
    QuestionPolicy,
    QuestionRecord,
    status_candidates,
)
from inference.ml.text.matcher import Matcher

MODE = "combined"
PROMPT_VERSION = "combined-chest-q2"

SOURCE_RULES, SOURCE_STAGE1, SOURCE_LLM, SOURCE_RULES_LLM = "rules", "stage1", "llm", "rules+llm"

FLAG_DISAGREE = "rules_stage1_disagree"
FLAG_SILENT = "lexicon_silent"
FLAG_NO_LOCATION = "no_location"
FLAG_UNPARSED = "unparsed"
FLAG_LLM_DISAGREE = "llm_disagrees"
FLAG_LLM_FAILED = "llm_failed"
FLAG_UNCONFIRMED = "unconfirmed"
FLAG_LLM_UNVERIFIED = "llm_quote_not_found"
POSITIVE = ("present", "uncertain")
ABSENT = "absent"  # a stage 1 finding the LLM, quoting, says the report does not mention
# The question each flag raises (inference/ml/questions.py).
FLAG_QUESTION = {
    FLAG_DISAGREE: STATUS_DISAGREE,
    FLAG_SILENT: STATUS_SILENT,
    FLAG_UNPARSED: STATUS_UNPARSED,
    FLAG_NO_LOCATION: LOCATION,
}


@dataclass(frozen=True, slots=True)
class Stage1KeyQuality:
    """Stage 1's measured quality on one key (held-out gold, else gold validation):
    its F1 and, when stored, the true and false positives behind its precision."""

    f1: float
    tp: int | None = None
    fp: int | None = None

    @property
    def precision_lower_bound(self) -> float | None:
        """The Wilson score 95% lower bound of TP / (TP + FP); None without counts."""
        if self.tp is None or self.fp is None:
            return None
        return wilson_lower_bound(self.tp, self.tp + self.fp)


def wilson_lower_bound(successes: int, n: int, z: float = 1.96) -> float:
    """The Wilson score interval's lower end for `successes` of `n` (0.0 when n is 0)."""
    if n <= 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n))


class Stage1Like(Protocol):
    def predict(self, texts: Sequence[str]) -> Sequence[Any]: ...


@dataclass(slots=True)
class CombinedFinding(Finding):
    source: str = SOURCE_RULES
    sources: dict[str, Any] = field(default_factory=dict)  # each source's verdict, for provenance


@dataclass(slots=True)
class CombinedResult:
    task: str
    mode: str
    prompt_version: str
    rules_version: str
    findings: list[CombinedFinding]
    llm_reasons: dict[str, list[str]] = field(default_factory=dict)  # key -> why the LLM was asked
    steps: list[StepCall] = field(default_factory=list)
    ok: bool = True
    error: str | None = None
    seconds: float = 0.0
    brain_gold: dict[str, Any] | None = None  # the brain MRI path's gold-shaped answer (combined_brain.py)
    questions: list[QuestionRecord] = field(default_factory=list)  # asked or held back by the policy

    @property
    def llm_used(self) -> bool:
        return bool(self.steps)

    def as_gold(self) -> dict[str, Any]:
        if self.brain_gold is not None:
            return self.brain_gold
        return {
            "lesions": {f.key: {"status": f.status, "locations": list(f.locations)} for f in self.findings}
        }

    def present_keys(self) -> set[str]:
        return {f.key for f in self.findings if f.status in ("present", "uncertain")}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CombinedExtractor:
    def __init__(
        self,
        engine: RuleEngine,
        *,
        stage1: Stage1Like | None = None,
        llm: LLMBackend | None = None,
        keys: ChestKeys | None = None,
        disagree_margin: float = 0.35,
        policy: QuestionPolicy | None = None,
        max_tokens: int = 120,
        context_sentences: int = 1,
        max_sentences: int = 6,
        max_excerpt_chars: int = 3000,
        stage1_key_f1: Mapping[str, float | Stage1KeyQuality] | None = None,
        min_stage1_f1: float = 0.8,
        min_stage1_precision_lb: float = 0.9,
    ) -> None:
        self.engine = engine
        self.stage1 = stage1
        self.llm = llm
        self.keys = keys or ChestKeys(
            lesions=tuple(engine.finding_keys), locations=tuple(engine.location_keys)
        )
        self.disagree_margin = disagree_margin
        self.policy = policy or QuestionPolicy()
        self.max_tokens = max_tokens
        self.context_sentences = context_sentences
        self.max_sentences = max_sentences
        self.max_excerpt_chars = max_excerpt_chars
        # Stage 1's measured quality per key (its held-out or gold validation scores): a
        # key it does not predict well may neither add a finding alone nor send a
        # disagreement to the LLM; its verdict and the flag stay for the reviewer. None
        # (no stored metrics): stage 1 is trusted on no key.
        self.stage1_quality: dict[str, Stage1KeyQuality] | None = (
            {
                k: v if isinstance(v, Stage1KeyQuality) else Stage1KeyQuality(float(v))
                for k, v in stage1_key_f1.items()
            }
            if stage1_key_f1 is not None
            else None
        )
        self.min_stage1_f1 = min_stage1_f1
        self.min_stage1_precision_lb = min_stage1_precision_lb
        self._key_matchers: dict[str, Matcher] = {}

    def extract(self, text: str, *, stage1: Any | None = None) -> CombinedResult:
        """`stage1`: this report's precomputed KeyPrediction (batching is the caller's)."""
        started = time.perf_counter()
        rules = self.engine.extract(text)
        if stage1 is None and self.stage1 is not None:
            stage1 = self.stage1.predict([text])[0]
        findings, reasons = self._merge(text, rules, stage1)
        result = CombinedResult(
            task="chest_ct",
            mode=MODE,
            prompt_version=PROMPT_VERSION,
            rules_version=rules.rules_version,
            findings=findings,
            llm_reasons=reasons,
        )
        if reasons:
            self._ask_llm(text, rules, result)
            result.findings = [f for f in result.findings if f.status != ABSENT]
        for f in result.findings:
            if f.evidence and f.evidence_span is None:
                f.evidence_span = locate_evidence(text, f.evidence)
        result.seconds = time.perf_counter() - started
        return result

    # -- rules + stage 1 ------------------------------------------------------------------

    def _merge(
        self, text: str, rules: EngineResult, stage1: Any | None
    ) -> tuple[list[CombinedFinding], dict[str, list[str]]]:
        by_key = rules.by_key()
        probs: Mapping[str, float] = getattr(stage1, "probs", {}) if stage1 is not None else {}
        labels: Mapping[str, bool] = getattr(stage1, "labels", {}) if stage1 is not None else {}
        out: list[CombinedFinding] = []
        reasons: dict[str, list[str]] = {}
        for key in self.keys.lesions:
            r = by_key.get(key)
            prob = probs.get(key)
            says = labels.get(key, prob is not None and prob >= 0.5) if prob is not None else None
            verdicts: dict[str, Any] = {}
            trusted = self.trusts_stage1(key)
            if prob is not None:
                verdicts[SOURCE_STAGE1] = {"prob": round(float(prob), 4), "present": bool(says)}
                if not trusted:
                    verdicts[SOURCE_STAGE1]["trusted"] = False
            if r is not None:
                verdicts[SOURCE_RULES] = _rules_verdict(r)
                finding = CombinedFinding(
                    key,
                    r.stage2_status,
                    "lesion",
                    locations=list(r.locations),
                    evidence=r.evidence,
                    evidence_span=r.evidence_span,
                    flags=list(r.flags),
                    source=SOURCE_RULES,
                    sources=verdicts,
                )
                why = []
                if prob is not None and self._disagree(r.present, prob):
                    finding.flags.append(FLAG_DISAGREE)
                    if trusted:
                        why.append(FLAG_DISAGREE)
                if r.present and not r.locations and key not in self.keys.implicit:
                    why.append(FLAG_NO_LOCATION)
                if not rules.parse_ok:
                    why.append(FLAG_UNPARSED)
                out.append(finding)
            elif (
                says
                and prob is not None
                and prob >= 0.5 + self.disagree_margin
                and self.stage1_may_add(key)
                and not self._words_of(text, key)
            ):
                # Stage 1 alone decides only when it is confident: its own threshold is tuned
                # for F1 on a small validation split and lets through what the lexicon
                # rightly did not see. Nor where the key's own words are in the report: the
                # rules read them and placed them elsewhere ("pleural nodule", "thyroid
                # nodule", "nodular calcification"), so the lexicon was not silent.
                finding = CombinedFinding(
                    key, "present", "lesion", flags=[FLAG_SILENT], source=SOURCE_STAGE1, sources=verdicts
                )
                if key in self.keys.implicit:
                    finding.locations = [self.keys.implicit[key]]
                out.append(finding)
                why = [FLAG_SILENT]
            else:
                continue
            if why:
                reasons[key] = why
        return out, reasons

    def trusts_stage1(self, key: str) -> bool:
        """Whether stage 1 may send a disagreement on `key` to the LLM: its measured F1
        on the key reaches `min_stage1_f1`. Never without stored metrics."""
        quality = (self.stage1_quality or {}).get(key)
        return quality is not None and quality.f1 >= self.min_stage1_f1

    def stage1_may_add(self, key: str) -> bool:
        """Whether stage 1 may add `key` alone where the lexicon is silent: trusted, and
        the Wilson lower bound of its measured precision on the key reaches
        `min_stage1_precision_lb` (a key scored without TP/FP counts never does)."""
        if not self.trusts_stage1(key):
            return False
        bound = (self.stage1_quality or {})[key].precision_lower_bound
        return bound is not None and bound >= self.min_stage1_precision_lb

    def _words_of(self, text: str, key: str) -> bool:
        """Whether any lexicon value of `key` occurs in `text`, even inside a longer
        value of another key or where the rules set the mention aside."""
        matcher = self._key_matchers.get(key)
        if matcher is None:
            matcher = Matcher(v for v in self.engine.matcher.values if str(v.key) == key)
            self._key_matchers[key] = matcher
        return bool(matcher.find(text))

    def _disagree(self, rules_present: bool, prob: float) -> bool:
        """Only a confident stage 1 contradicts the rules: near the threshold it is noise."""
        if rules_present:
            return prob < 0.5 - self.disagree_margin
        return prob > 0.5 + self.disagree_margin

    # -- the LLM, where it is measured to help -------------------------------------------

    def questions_for(
        self, text: str, rules: EngineResult, finding: CombinedFinding, why: Sequence[str]
    ) -> list[Question]:
        """The questions a finding's flags raise, status first (a status answer may
        make a location question moot), each with its sentences and candidates."""
        out: list[Question] = []
        for flag in why:
            kind = FLAG_QUESTION.get(flag)
            if kind is None or kind == LOCATION:
                continue
            spans = self._status_sentences(text, rules, finding.key, kind)
            if spans:
                out.append(Question(kind, finding.key, spans, status_candidates(kind), text))
                break  # one status question per finding
        if FLAG_NO_LOCATION in why:
            located = self.location_question(text, rules, finding.key)
            if located is not None:
                out.append(located)
        return out

    def location_question(self, text: str, rules: EngineResult, key: str) -> Question | None:
        """Which of the location keys named in the mention's sentence and its neighbours
        the lesion is in; None when they name none (there is nothing to choose)."""
        spans = rules.sentence_spans
        wanted: set[int] = set()
        for m in rules.mentions:
            if m.key == key and not m.outside and m.status in ("positive", "uncertain") and m.sentence >= 0:
                wanted |= {
                    i
                    for i in range(
                        m.sentence - self.context_sentences, m.sentence + self.context_sentences + 1
                    )
                    if 0 <= i < len(spans)
                }
        chosen = [spans[i] for i in sorted(wanted)]
        candidates: list[str] = []
        for loc in rules.location_mentions:
            if any(s <= loc.start < e for s, e in chosen):
                candidates += [k for k in loc.keys if k in self.keys.locations and k not in candidates]
        candidates = [k for k in candidates if self.engine.may_have(key, k)]
        if not candidates:
            return None
        return Question(LOCATION, key, chosen, [*candidates, NOT_STATED], text, multiple=True)

    def _status_sentences(self, text: str, rules: EngineResult, key: str, kind: str) -> list[tuple[int, int]]:
        if kind == STATUS_UNPARSED or not rules.sentence_spans:
            return [(0, min(len(text), self.max_excerpt_chars))]
        spans = rules.sentence_spans
        if kind == STATUS_SILENT:
            # The lexicon never matched the key: it is somewhere the report speaks of the
            # lungs or pleura, in words the lexicon lacks.
            about = [sp for sp in spans if self.engine.about_lungs(text[sp[0] : sp[1]])]
            return about[: self.max_sentences]
        mine = sorted({m.sentence for m in rules.mentions if m.key == key and m.sentence >= 0})
        return [spans[i] for i in mine][: self.max_sentences]

    def _ask_llm(self, text: str, rules: EngineResult, result: CombinedResult) -> None:
        by_key = {f.key: f for f in result.findings}
        for key in [k for k in self.keys.lesions if k in result.llm_reasons]:
            finding = by_key[key]
            for question in self.questions_for(text, rules, finding, result.llm_reasons[key]):
                if question.kind == LOCATION and (finding.status not in POSITIVE or finding.locations):
                    continue  # a status answer settled it
                before = {"status": finding.status, "locations": list(finding.locations)}
                record = QuestionRecord(
                    question.kind,
                    key,
                    self.policy.asks(question.kind),
                    before,
                    dict(before),
                    candidates=list(question.candidates),
                )
                result.questions.append(record)
                if not record.asked or self.llm is None:
                    continue
                self._ask(question, finding, record, result)
                record.after = {"status": finding.status, "locations": list(finding.locations)}

    def _ask(
        self, question: Question, finding: CombinedFinding, record: QuestionRecord, result: CombinedResult
    ) -> None:
        assert self.llm is not None
        messages, schema = question.prompt()
        step = StepCall(f"chest_ct_question:{question.kind}", PROMPT_VERSION, messages)
        result.steps.append(step)
        try:
            reply = self.llm.complete_json(messages, schema, self.max_tokens)
        except LLMError as exc:
            step.errors, record.error = [str(exc)], str(exc)
            _add_flag(finding, FLAG_LLM_FAILED)
            return
        step.raw, step.parsed, step.seconds = reply.text, reply.parsed, reply.seconds
        step.prompt_tokens, step.completion_tokens = reply.prompt_tokens, reply.completion_tokens
        answer, quote = _answer_of(reply.parsed, question)
        if answer is None:
            step.errors = ["the answer is not one of the candidates"]
            record.error = step.errors[0]
            _add_flag(finding, FLAG_LLM_FAILED)
            return
        step.ok = True
        span = question.quote_span(quote, locate_evidence)
        record.answer, record.quote, record.quote_found = answer, quote, span is not None
        finding.sources.setdefault(SOURCE_LLM, {})[question.kind] = {
            "answer": answer,
            "evidence": quote,
            "quote_found": span is not None,
        }
        if span is None:
            _add_flag(finding, FLAG_LLM_UNVERIFIED)
            if question.kind == STATUS_SILENT:
                _add_flag(finding, FLAG_UNCONFIRMED)
            return
        evidence = question.text[span[0] : span[1]]
        if question.kind == LOCATION:
            chosen = [c for c in answer if c != NOT_STATED]
            if chosen and NOT_STATED not in answer:
                finding.locations = self.engine.location_tree.normalise(chosen)
                finding.source = SOURCE_RULES_LLM
                record.applied = True
            return
        status = ABSENT if answer == NOT_MENTIONED else answer
        if status != finding.status:
            _add_flag(finding, FLAG_LLM_DISAGREE)
        finding.status, finding.source = status, SOURCE_LLM
        finding.evidence, finding.evidence_span = evidence, span
        if status not in POSITIVE:
            finding.locations = []
        record.applied = True


def _rules_verdict(r: EngineFinding) -> dict[str, Any]:
    return {
        "status": STAGE2_STATUS[r.status],
        "assertion": r.status,
        "locations": list(r.locations),
        "link": r.link,
        "evidence": r.evidence,
    }


def _answer_of(parsed: Any, question: Question) -> tuple[Any, str]:
    """The reply's answer when it is one of the candidates (a location answer: the
    candidates it lists, at least one), and its quote; (None, "") otherwise."""
    if not isinstance(parsed, dict):
        return None, ""
    answer, quote = parsed.get("answer"), str(parsed.get("quote") or "")
    if question.multiple:
        answers = answer if isinstance(answer, list) else [answer]
        chosen = [a for a in dict.fromkeys(answers) if isinstance(a, str) and a in question.candidates]
        return (chosen or None), quote
    return (answer if answer in question.candidates else None), quote


def _add_flag(finding: CombinedFinding, flag: str) -> None:
    if flag not in finding.flags:
        finding.flags.append(flag)


def result_json(result: CombinedResult) -> str:
    return json.dumps(result.as_dict(), ensure_ascii=False, default=list)


def stage1_key_quality(metrics: Mapping[str, Any]) -> dict[str, Stage1KeyQuality] | None:
    """Per-key F1 and TP/FP of a stage 1 model from its stored metrics, the held-out
    gold set's when it was scored, else its gold validation split's; None when neither
    has them (the combined mode then trusts stage 1 on no key)."""
    for part in ("heldout", "validation"):
        per_key = (metrics.get(part) or {}).get("per_key") or {}
        scores = {
            k: Stage1KeyQuality(
                float(v["f1"]),
                int(v["tp"]) if v.get("tp") is not None else None,
                int(v["fp"]) if v.get("fp") is not None else None,
            )
            for k, v in per_key.items()
            if v.get("f1") is not None
        }
        if scores:
            return scores
    return None


def stage1_key_f1(metrics: Mapping[str, Any]) -> dict[str, float] | None:
    """Per-key F1 of a stage 1 model from its stored metrics: the held-out gold set's
    when it was scored, else its validation split's; None when neither has them."""
    for part in ("heldout", "validation"):
        per_key = (metrics.get(part) or {}).get("per_key") or {}
        scores = {k: float(v["f1"]) for k, v in per_key.items() if v.get("f1") is not None}
        if scores:
            return scores
    return None

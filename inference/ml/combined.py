"""The combined extractor: the rule engine as the backbone, stage 1 where the
lexicon is silent, the LLM only where something needs deciding.

    extractor = CombinedExtractor(engine, stage1=predictor, llm=backend)
    result = extractor.extract(text)            # CombinedResult
    result.as_gold(); result.findings[0].source, .flags, .sources

Per lesion key of a chest CT report:

* the rule engine spoke (a lexicon value matched): its assertion and links
  decide (`source` "rules"); stage 1's probability is kept in `sources`;
* the lexicon is silent but stage 1 is confident (over its threshold and
  0.5 + margin): present (`source` "stage1", flag "lexicon_silent"), no location;
* the LLM is asked, once per report and only about the keys that need it, when
  rules and stage 1 disagree beyond a margin ("rules_stage1_disagree"), a present
  lesion has no linked location ("no_location"), stage 1 alone found a lesion
  ("lexicon_silent"), or the report could not be segmented ("unparsed"); its
  prompt carries the rule engine's evidence (status, sentence, locations found)
  and only the sentences concerned, which keeps it short on long reports;
  where it answers with a quote found in the report, it decides (`source`
  "llm", or "rules+llm" when it only added locations); a key it leaves out or a
  status change it cannot quote changes nothing and is kept as a flag.

Every disagreement stays in `flags` and every source's verdict in `sources`;
nothing is resolved silently. Plain Python, no Django: stage 1 is anything with
`predict(texts) -> [KeyPrediction]` plus `thresholds` or labels, the LLM any
`LLMBackend`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from inference.ml.engine.engine import STAGE2_STATUS, EngineFinding, EngineResult, RuleEngine
from inference.ml.llm.backends import LLMBackend, LLMError
from inference.ml.llm.mapping import Finding, StepCall, locate_evidence
from inference.ml.llm.schemas import ChestKeys, chest_ct_schema, conform, expand, validate
from inference.ml.text.matcher import Matcher

MODE = "combined"
PROMPT_VERSION = "combined-chest-v1"

SOURCE_RULES, SOURCE_STAGE1, SOURCE_LLM, SOURCE_RULES_LLM = "rules", "stage1", "llm", "rules+llm"

FLAG_DISAGREE = "rules_stage1_disagree"
FLAG_SILENT = "lexicon_silent"
FLAG_NO_LOCATION = "no_location"
FLAG_UNPARSED = "unparsed"
FLAG_LLM_DISAGREE = "llm_disagrees"
FLAG_LLM_FAILED = "llm_failed"
FLAG_UNCONFIRMED = "unconfirmed"
FLAG_LLM_UNVERIFIED = "llm_quote_not_found"
_MIN_QUOTE_CHARS = 8


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
        ask_llm_for: Sequence[str] = (FLAG_DISAGREE, FLAG_NO_LOCATION, FLAG_SILENT, FLAG_UNPARSED),
        max_tokens: int = 200,
        context_sentences: int = 1,
        max_excerpt_chars: int = 3000,
        stage1_key_f1: Mapping[str, float] | None = None,
        min_stage1_f1: float = 0.8,
    ) -> None:
        self.engine = engine
        self.stage1 = stage1
        self.llm = llm
        self.keys = keys or ChestKeys(
            lesions=tuple(engine.finding_keys), locations=tuple(engine.location_keys)
        )
        self.disagree_margin = disagree_margin
        self.ask_llm_for = frozenset(ask_llm_for)
        self.max_tokens = max_tokens
        self.context_sentences = context_sentences
        self.max_excerpt_chars = max_excerpt_chars
        # Stage 1's measured F1 per key (its held-out or validation scores): a key it
        # does not predict well may neither add a finding alone nor send a disagreement
        # to the LLM; its verdict and the flag stay for the reviewer. None: trust all.
        self.stage1_key_f1 = dict(stage1_key_f1) if stage1_key_f1 is not None else None
        self.min_stage1_f1 = min_stage1_f1
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
        if reasons and self.llm is not None:
            self._ask_llm(text, rules, result)
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
                and trusted
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
            why = [w for w in why if w in self.ask_llm_for]
            if why:
                reasons[key] = why
        return out, reasons

    def trusts_stage1(self, key: str) -> bool:
        """Whether stage 1 may add `key` alone or send a disagreement on it to the LLM."""
        if self.stage1_key_f1 is None:
            return True
        return self.stage1_key_f1.get(key, 0.0) >= self.min_stage1_f1

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

    # -- the LLM, where needed ---------------------------------------------------------------

    def messages(
        self,
        text: str,
        rules: EngineResult,
        findings: Sequence[CombinedFinding],
        reasons: Mapping[str, list[str]],
        *,
        compact: bool = True,
    ) -> list[dict[str, str]]:
        """The prompt (`compact`: the schema wants findings as arrays): instructions,
        the rule engine's evidence for the keys in question, and the sentences
        concerned (the whole report when it could not be segmented)."""
        asked = [k for k in self.keys.lesions if k in reasons]
        by_key = {f.key: f for f in findings}
        evidence_lines = []
        for key in asked:
            f = by_key.get(key)
            rule = f.sources.get(SOURCE_RULES) if f else None
            stage1 = f.sources.get(SOURCE_STAGE1) if f else None
            parts = [f"- {key}:"]
            if rule:
                parts.append(f"rules say {rule['status']}")
                parts.append(f"(locations found: {', '.join(rule['locations']) or 'none'})")
                if rule.get("evidence"):
                    parts.append(f'from "{rule["evidence"][:160]}"')
            else:
                parts.append("no keyword for it in the report")
            if stage1:
                parts.append(f"; a classifier gives probability {stage1['prob']:.2f}")
            parts.append(f"; check: {', '.join(reasons[key])}")
            evidence_lines.append(" ".join(parts))
        excerpt = (
            text if any(FLAG_UNPARSED in r for r in reasons.values()) else self._excerpt(text, rules, asked)
        )
        system = (
            "You check a rule engine's reading of a chest CT report. For each lesion listed under "
            '"Questions", answer from the report text only, as JSON '
            + (
                '{"<lesion>": [status, [locations], "quote"]} (pleural effusion and pleural thickening: '
                '[status, "quote"]). '
                if compact
                else '{"<lesion>": {"s": status, "l": [locations], "e": "quote"}} (pleural effusion and '
                'pleural thickening: no "l"). '
            )
            + 'Status is "present" if the report describes it, "negated" if it says it is absent or '
            'resolved, "uncertain" if '
            f"only suspected; locations only from: {', '.join(self.keys.locations)} "
            '([] when none is stated; "both lungs" for bilateral); the quote is short and exact. '
            "Leave out a lesion the report does not mention. The rule engine is usually right about "
            "negation; it may miss a location stated in another sentence or an unusual wording."
        )
        user = "### Report excerpt:\n" + excerpt + "\n### Questions:\n" + "\n".join(evidence_lines)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _excerpt(self, text: str, rules: EngineResult, keys: Sequence[str]) -> str:
        """The sentences holding the asked keys' mentions, with their neighbours."""
        sentences = self.engine.segmenter.sentences(text)
        wanted: set[int] = set()
        for m in rules.mentions:
            if m.key in keys and m.sentence >= 0:
                for i in range(m.sentence - self.context_sentences, m.sentence + self.context_sentences + 1):
                    if 0 <= i < len(sentences):
                        wanted.add(i)
        if any(not any(m.key == key for m in rules.mentions) for key in keys):
            # A key the lexicon never matched: the finding is somewhere the report speaks of
            # the lungs or pleura, in words the lexicon lacks.
            wanted |= {i for i, s in enumerate(sentences) if self.engine.about_lungs(text[s.start : s.end])}
        if not wanted:
            return text[: self.max_excerpt_chars]
        excerpt = " ".join(text[sentences[i].start : sentences[i].end] for i in sorted(wanted))
        return excerpt[: self.max_excerpt_chars]

    def _ask_llm(self, text: str, rules: EngineResult, result: CombinedResult) -> None:
        assert self.llm is not None
        asked = [k for k in self.keys.lesions if k in result.llm_reasons]
        schema = chest_ct_schema(
            ChestKeys(
                lesions=tuple(asked),
                locations=self.keys.locations,
                implicit={k: v for k, v in self.keys.implicit.items() if k in asked},
                statuses=self.keys.statuses,
                max_locations=self.keys.max_locations,
            )
        )
        compact = any("prefixItems" in sub for sub in schema["properties"].values())
        messages = self.messages(text, rules, result.findings, result.llm_reasons, compact=compact)
        step = StepCall("chest_ct_combined", PROMPT_VERSION, messages)
        try:
            reply = self.llm.complete_json(messages, schema, self.max_tokens)
        except LLMError as exc:
            step.errors = [str(exc)]
            result.steps.append(step)
            _flag_all(result, asked, FLAG_LLM_FAILED)
            return
        step.raw, step.parsed, step.seconds = reply.text, reply.parsed, reply.seconds
        step.prompt_tokens, step.completion_tokens = reply.prompt_tokens, reply.completion_tokens
        parsed = reply.parsed
        if isinstance(parsed, dict):
            parsed = {k: _schema_form(v, schema["properties"].get(k, {})) for k, v in parsed.items()}
        step.errors = ["output is not valid JSON"] if parsed is None else validate(parsed, schema)
        step.ok = not step.errors
        result.steps.append(step)
        if not step.ok:
            _flag_all(result, asked, FLAG_LLM_FAILED)
            return
        self._apply(text, result, asked, expand(parsed, schema))

    def _apply(
        self, text: str, result: CombinedResult, asked: Sequence[str], parsed: Mapping[str, Any]
    ) -> None:
        """The LLM's answers, under two guards measured necessary on real reports with
        the small CPU models: an omitted key changes nothing (the model leaves out what
        it did not understand as often as what is absent, so a confident stage 1
        finding stays, flagged unconfirmed), and a changed status needs a quote found
        in the report (otherwise it is kept as a flag, not applied)."""
        by_key = {f.key: f for f in result.findings}
        for key in asked:
            f = by_key[key]
            answer = parsed.get(key)
            why = result.llm_reasons[key]
            if answer is None:
                f.sources[SOURCE_LLM] = {"status": None}
                if FLAG_SILENT in why:
                    f.flags.append(FLAG_UNCONFIRMED)
                continue
            status = answer["s"]
            locations = [loc for loc in answer.get("l", []) if loc in self.keys.locations]
            if key in self.keys.implicit:
                locations = [self.keys.implicit[key]]
            quote = str(answer.get("e") or "")
            # A word or two ("none", "no") fuzzily matches almost any sentence: no evidence.
            span = locate_evidence(text, quote) if len(quote.strip()) >= _MIN_QUOTE_CHARS else None
            f.sources[SOURCE_LLM] = {
                "status": status,
                "locations": locations,
                "evidence": quote,
                "quote_found": span is not None,
            }
            if status != f.status:
                f.flags.append(FLAG_LLM_DISAGREE)
            decides_status = bool({FLAG_DISAGREE, FLAG_SILENT, FLAG_UNPARSED} & set(why))
            if decides_status and (status == f.status or span is not None):
                f.status, f.source = status, SOURCE_LLM
                f.locations = locations if status in ("present", "uncertain") else []
                if span is not None:
                    f.evidence, f.evidence_span = text[span[0] : span[1]], span
            elif decides_status:
                f.flags.append(FLAG_LLM_UNVERIFIED)
            elif FLAG_NO_LOCATION in why and locations and f.status in ("present", "uncertain"):
                f.locations, f.source = locations, SOURCE_RULES_LLM


def _rules_verdict(r: EngineFinding) -> dict[str, Any]:
    return {
        "status": STAGE2_STATUS[r.status],
        "assertion": r.status,
        "locations": list(r.locations),
        "link": r.link,
        "evidence": r.evidence,
    }


def _schema_form(value: Any, sub: Mapping[str, Any]) -> Any:
    """A finding in the form its schema wants, whichever of the two the model used:
    readable ({"s": .., "l": .., "e": ..}) or compact ([status, locations, quote])."""
    if isinstance(value, dict) and sub.get("prefixItems"):
        return conform(value, sub)
    properties = sub.get("properties")
    if isinstance(value, list) and properties:
        return dict(zip(properties, value, strict=False))
    return value


def _flag_all(result: CombinedResult, keys: Sequence[str], flag: str) -> None:
    for f in result.findings:
        if f.key in keys and flag not in f.flags:
            f.flags.append(flag)


def result_json(result: CombinedResult) -> str:
    return json.dumps(result.as_dict(), ensure_ascii=False, default=list)


def stage1_key_f1(metrics: Mapping[str, Any]) -> dict[str, float] | None:
    """Per-key F1 of a stage 1 model from its stored metrics: the held-out gold set's
    when it was scored, else its validation split's; None when neither has them."""
    for part in ("heldout", "validation"):
        per_key = (metrics.get(part) or {}).get("per_key") or {}
        scores = {k: float(v["f1"]) for k, v in per_key.items() if v.get("f1") is not None}
        if scores:
            return scores
    return None

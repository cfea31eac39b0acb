"""Stage 2 of the method: relationship mapping with an LLM (no training).

    mapper = ChestCtMapper(backend)
    result = mapper.map(report_text, hint=["nodule", "consolidation"])   # hint=None: "no hint" mode
    json.dumps(asdict(result))

Chest CT: one call; each mentioned lesion is present / uncertain / negated with
its locations; pleural effusion and thickening get "pleura" without asking. With
the site's location tree (`tree`, text.location_keys), the model's locations go
through the one normalisation every mode uses ("both lungs" beside a lobe of
each side -> the lobes).
Brain MRI: step 1 (which of the five diagnosis groups), then step 2 only for
what step 1 found: the episode of each malignant diagnosis, and, for "other
non-tumor", which of the four detail keys (a separate, targeted prompt).

Never raises for a bad model output: a reply that is not JSON or breaks the
schema marks the result failed (`ok=False`) and keeps the raw text. Backend
errors (`LLMError`: server down, bad configuration) do propagate, so a job can
retry; only a prompt that does not fit the context window fails the result.

Every finding's evidence quote is mapped back to offsets in the original text
(see `locate_evidence`). Small models copy the hint line too eagerly (negated
lesions named in the hint come back "present"), so the hint line is framed as
candidates in the instructions, and a post-check flags present findings whose
evidence is unmatched or reads as negated (`flags`), by the assertion detector
the mapper is given (the site passes the triggers its admins maintain; the
default is the shipped trigger table). Plain Python.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from inference.ml.defaults import default_detector
from inference.ml.llm.backends import LLMBackend, LLMContextOverflow, LLMTimeout
from inference.ml.llm.prompts import (
    PromptTemplate,
    load_template,
    prefix_messages,
    quote_fold,
    report_message,
)
from inference.ml.llm.schemas import (
    EPISODE_NONE,
    BrainKeys,
    ChestKeys,
    brain_episode_schema,
    brain_nontumor_schema,
    brain_step1_schema,
    chest_ct_schema,
    conform,
    expand,
    validate,
)
from inference.ml.preprocess import NormalizedText, normalize
from inference.ml.text.assertion import AssertionDetector
from inference.ml.text.lexicon import Lexicon, lexicon_values
from inference.ml.text.location_keys import LocationTree
from inference.ml.text.matcher import Matcher
from inference.ml.text.patterns import fold

POSITIVE = ("present", "uncertain")

# Flags a reviewer sees next to a finding.
FLAG_UNMATCHED = "evidence_unmatched"  # the quote is not in the report
FLAG_NEGATED_CONTEXT = "evidence_negated"  # present, but the quote reads as negated
FLAG_NOT_NEGATED = "evidence_not_negated"  # negated, but the quote does not read as negated
FLAG_KEY_NOT_IN_EVIDENCE = "key_not_in_evidence"  # the quote names none of the key's values
REJECT_EXAMPLE = "copied_from_prompt_example"  # MappingResult.rejected's reason
FLAG_HINT_LEAK = "hint_leak_suspect"  # present, named in the hint, and the quote does not support it
FLAG_NOT_IN_HINT = "not_in_hint"  # present, but stage 1 did not name it


@dataclass(slots=True)
class Finding:
    key: str
    status: str
    kind: str  # lesion | diagnosis | non_tumor
    locations: list[str] = field(default_factory=list)
    episode: str | None = None
    details: list[str] = field(default_factory=list)  # "other non-tumor": its detail keys
    evidence: str = ""
    evidence_span: tuple[int, int] | None = None
    episode_evidence: str = ""
    episode_evidence_span: tuple[int, int] | None = None
    flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StepCall:
    """One LLM call, exactly as sent and received."""

    task: str
    prompt_version: str
    messages: list[dict[str, str]]
    raw: str = ""
    parsed: Any = None
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class MappingResult:
    task: str  # chest_ct | brain_mri
    mode: str  # hint | no_hint
    prompt_version: str
    model: dict[str, Any]
    hint: list[str] | None
    ok: bool = True
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # Findings dropped before anyone sees them: {"key", "status", "quote", "reason"}.
    rejected: list[dict[str, str]] = field(default_factory=list)
    steps: list[StepCall] = field(default_factory=list)
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_gold(self) -> dict[str, Any]:
        """The prediction in the shape of a gold file's "gold" object (docs/gold-files.md)."""
        if self.task == "chest_ct":
            return {"lesions": {f.key: {"status": f.status, "locations": f.locations} for f in self.findings}}
        diagnoses = {}
        for f in self.findings:
            if f.kind == "diagnosis":
                diagnoses[f.key] = {"status": f.status} | ({"episode": f.episode} if f.episode else {})
        non_tumor = [f.key for f in self.findings if f.kind == "non_tumor" and f.status in POSITIVE]
        return {"diagnoses": diagnoses, "non_tumor": non_tumor}


def combined_version(*parts: object) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# Prefixes a step keeps (brain MRI's episode step has a schema per set of targets).
PREFIXES_KEPT = 16


class _Step:
    """One prompt template bound to its backend and schema values."""

    def __init__(self, name: str, backend: LLMBackend, values: Mapping[str, str], max_tokens: int) -> None:
        self.template: PromptTemplate = load_template(name)
        self.backend = backend
        self.values = dict(values)
        self.max_tokens = max_tokens
        # (show hints, id(schema)) -> (the schema, its prefix messages): built once per
        # schema object, not per report (the instructions' substitution, the examples'
        # normalisation and JSON). The schema is held, so its id cannot be reused by
        # another while the entry lives. Shared by a batch's threads: a race only
        # builds the same prefix twice.
        self._prefixes: dict[tuple[bool, int], tuple[dict[str, Any], list[dict[str, str]]]] = {}

    def messages(
        self,
        text: str,
        hint: Sequence[str] | None,
        schema: dict[str, Any],
        *,
        example_hints: bool | None = None,
    ) -> list[dict[str, str]]:
        """prompts.build_messages for this step, its prefix built once per schema."""
        show_hints = hint is not None if example_hints is None else example_hints
        key = (show_hints, id(schema))
        cached = self._prefixes.get(key)
        if cached is None or cached[0] is not schema:
            prefix = prefix_messages(
                self.template,
                values=self.values,
                conform=lambda output: conform(output, schema),
                show_hints=show_hints,
            )
            if len(self._prefixes) >= PREFIXES_KEPT:
                self._prefixes.clear()
            self._prefixes[key] = cached = (schema, prefix)
        # Copies: each call's messages are its own (StepCall keeps them).
        return [dict(m) for m in cached[1]] + [report_message(self.template, report=text, hint=hint)]

    def call(
        self,
        text: str,
        hint: Sequence[str] | None,
        schema: dict[str, Any],
        *,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> StepCall:
        messages = self.messages(text, hint, schema, **kwargs)
        step = StepCall(self.template.name, self.template.version, messages)
        started = time.perf_counter()
        try:
            if deadline is None:
                reply = self.backend.complete_json(messages, schema, self.max_tokens)
            else:
                reply = self.backend.complete_json(messages, schema, self.max_tokens, deadline=deadline)
        except (LLMContextOverflow, LLMTimeout) as exc:
            # This report's problem, not the backend's: the result fails, the batch goes on.
            step.errors = [str(exc)]
            step.seconds = time.perf_counter() - started
            return step
        step.raw, step.parsed, step.seconds = reply.text, reply.parsed, reply.seconds
        step.prompt_tokens, step.completion_tokens = reply.prompt_tokens, reply.completion_tokens
        if reply.parsed is None:
            step.errors = ["output is not valid JSON"]
        else:
            step.errors = validate(reply.parsed, schema)
        step.ok = not step.errors
        return step


def _backend_for(backends: LLMBackend | Mapping[str, LLMBackend], name: str) -> LLMBackend:
    if isinstance(backends, Mapping):
        return backends[name]
    return backends


class ChestCtMapper:
    """Lesion -> location mapping for chest CT reports.

    Keep one mapper (and so one backend) per process: consecutive reports then
    share the evaluated instructions and examples (prefix cache).
    """

    task = "chest_ct"
    template_name = "chest_ct_relations"

    def __init__(
        self,
        backend: LLMBackend,
        *,
        keys: ChestKeys | None = None,
        lexicon: Lexicon | None = None,
        detector: AssertionDetector | None = None,
        tree: LocationTree | None = None,
        max_tokens: int = 320,
    ) -> None:
        self.keys = keys or ChestKeys()
        self.tree = tree  # the site's location normalisation; None: locations as the model gave them
        self.schema = chest_ct_schema(self.keys)
        values = {
            "lesions": ", ".join(self.keys.lesions),
            "locations": ", ".join(self.keys.locations),
            "implicit": " and ".join(k.capitalize() for k in self.keys.implicit) or "No lesion",
            "shape": "an array [status, locations, quote]"
            if self.keys.compact
            else 'an object {"s": status, "l": locations, "e": quote}',
            "implicit_shape": "[status, quote]" if self.keys.compact else '{"s": status, "e": quote}',
        }
        self.step = _Step(self.template_name, backend, values, max_tokens)
        self.evidence = _EvidenceCheck(lexicon, detector, templates=[self.step.template])
        self.prompt_version = combined_version(self.step.template.version, self.schema)

    def messages(self, text: str, *, hint: Sequence[str] | None = None) -> list[dict[str, str]]:
        """The exact messages `map` would send (for review pages and tests)."""
        return self.step.messages(text, hint, self.schema)

    def map(
        self, text: str, *, hint: Sequence[str] | None = None, deadline: float | None = None
    ) -> MappingResult:
        """`deadline` (a time.monotonic() value) bounds the whole report."""
        started = time.perf_counter()
        result = _new_result(self.task, self.prompt_version, self.step.backend, hint)
        call = self.step.call(text, hint, self.schema, deadline=deadline)
        result.steps.append(call)
        if call.ok:
            result.findings = self._findings(expand(call.parsed, self.schema))
            result.rejected = self.evidence.check(result.findings, text, hint)
        else:
            result.ok, result.error = False, f"{call.task}: " + "; ".join(call.errors[:5])
        return _finish(result, started)

    def map_many(self, items: Iterable[tuple[str, Sequence[str] | None]]) -> list[MappingResult]:
        return [self.map(text, hint=hint) for text, hint in items]

    def _findings(self, parsed: Mapping[str, Any]) -> list[Finding]:
        findings = []
        for key, value in parsed.items():
            implicit = self.keys.implicit.get(key)
            if implicit:
                locations = [implicit]
            elif self.tree is not None:
                locations = self.tree.normalise(value.get("l", []))
            else:
                locations = list(dict.fromkeys(value.get("l", [])))
            findings.append(Finding(key, value["s"], "lesion", locations=locations, evidence=value["e"]))
        return findings


@dataclass(slots=True)
class _BrainState:
    text: str
    hint: list[str] | None
    result: MappingResult
    seconds: float = 0.0  # this report's share of the batch's wall time
    findings: dict[str, Finding] = field(default_factory=dict)


class BrainMriMapper:
    """Diagnosis -> episode mapping (and non-tumor detail) for brain MRI, in two steps.

    `backends` is one backend for all three templates or a mapping template name ->
    backend. `map_many` runs step 1 for every report before any step 2, so a single
    shared backend still reuses each template's prefix across the batch.
    """

    task = "brain_mri"
    templates = ("brain_mri_step1", "brain_mri_episode", "brain_mri_nontumor")

    def __init__(
        self,
        backends: LLMBackend | Mapping[str, LLMBackend],
        *,
        keys: BrainKeys | None = None,
        lexicon: Lexicon | None = None,
        detector: AssertionDetector | None = None,
        max_tokens: int = 200,
    ) -> None:
        self.keys = keys or BrainKeys()
        # A detail key's mention ("infarct") is evidence for "other non-tumor" too.
        also = {self.keys.other_non_tumor: self.keys.non_tumor}
        values = {
            "diagnoses": ", ".join(self.keys.diagnoses),
            "episodes": ", ".join(self.keys.episodes),
            "non_tumor": ", ".join(self.keys.non_tumor),
            "status_shape": "an array [status, quote]"
            if self.keys.compact
            else 'an object {"s": status, "e": quote}',
            "episode_shape": "an array [episode, quote]"
            if self.keys.compact
            else 'an object {"ep": episode, "e": quote}',
        }
        self.steps = {
            name: _Step(name, _backend_for(backends, name), values, max_tokens) for name in self.templates
        }
        templates = [step.template for step in self.steps.values()]
        self.evidence = _EvidenceCheck(lexicon, detector, also, templates=templates)
        self._deadline: float | None = None
        self.step1_schema = brain_step1_schema(self.keys)
        self.nontumor_schema = brain_nontumor_schema(self.keys)
        versions = [self.steps[name].template.version for name in self.templates]
        self.prompt_version = combined_version(
            versions, self.step1_schema, self.nontumor_schema, self.keys.episodes
        )

    def map(
        self, text: str, *, hint: Sequence[str] | None = None, deadline: float | None = None
    ) -> MappingResult:
        """`deadline` (a time.monotonic() value) bounds all steps of the report."""
        return self.map_many([(text, hint)], deadline=deadline)[0]

    def map_many(
        self, items: Iterable[tuple[str, Sequence[str] | None]], *, deadline: float | None = None
    ) -> list[MappingResult]:
        self._deadline = deadline
        states = []
        for text, hint in items:
            backend = self.steps["brain_mri_step1"].backend
            result = _new_result(self.task, self.prompt_version, backend, hint)
            states.append(_BrainState(text, list(hint) if hint is not None else None, result))
        for state in states:
            self._step1(state)
        for state in states:
            self._episode(state)
        for state in states:
            self._nontumor(state)
        return [self._finish(state) for state in states]

    def _run(
        self, state: _BrainState, name: str, hint: Sequence[str] | None, schema: dict[str, Any], **kw: Any
    ) -> Any:
        started = time.perf_counter()
        call = self.steps[name].call(state.text, hint, schema, deadline=self._deadline, **kw)
        state.result.steps.append(call)
        state.seconds += time.perf_counter() - started
        if not call.ok:
            state.result.ok = False
            state.result.error = f"{name}: " + "; ".join(call.errors[:5])
            return None
        return expand(call.parsed, schema)

    def _step1(self, state: _BrainState) -> None:
        hint = None
        if state.hint is not None:
            wanted = set(state.hint)
            if wanted & set(self.keys.non_tumor):
                wanted.add(self.keys.other_non_tumor)
            hint = [d for d in self.keys.diagnoses if d in wanted]
        parsed = self._run(state, "brain_mri_step1", hint, self.step1_schema)
        for key, value in (parsed or {}).items():
            state.findings[key] = Finding(key, value["s"], "diagnosis", evidence=value["e"])

    def _episode(self, state: _BrainState) -> None:
        targets = [d for d in self.keys.malignant if _positive(state.findings.get(d))]
        if not targets or not state.result.ok:
            return
        schema = brain_episode_schema(self.keys, targets)
        # The target line is the question of this step, so it is shown in both modes.
        parsed = self._run(state, "brain_mri_episode", targets, schema, example_hints=True)
        for key, value in (parsed or {}).items():
            finding = state.findings[key]
            finding.episode = None if value["ep"] == EPISODE_NONE else value["ep"]
            finding.episode_evidence = value["e"]

    def _nontumor(self, state: _BrainState) -> None:
        parent = state.findings.get(self.keys.other_non_tumor)
        if not _positive(parent) or not state.result.ok:
            return
        hint = None if state.hint is None else [k for k in self.keys.non_tumor if k in state.hint]
        parsed = self._run(state, "brain_mri_nontumor", hint, self.nontumor_schema)
        for key, value in (parsed or {}).items():
            state.findings[key] = Finding(key, value["s"], "non_tumor", evidence=value["e"])
            if value["s"] in POSITIVE and parent is not None:
                parent.details.append(key)

    def _finish(self, state: _BrainState) -> MappingResult:
        started = time.perf_counter()
        result = state.result
        result.findings = list(state.findings.values())
        result.rejected = self.evidence.check(result.findings, state.text, state.hint)
        return _finish(result, started, already=state.seconds)


def _positive(finding: Finding | None) -> bool:
    return finding is not None and finding.status in POSITIVE


def _new_result(task: str, version: str, backend: LLMBackend, hint: Sequence[str] | None) -> MappingResult:
    return MappingResult(
        task=task,
        mode="no_hint" if hint is None else "hint",
        prompt_version=version,
        model=backend.info(),
        hint=None if hint is None else list(hint),
    )


def _finish(result: MappingResult, started: float, *, already: float = 0.0) -> MappingResult:
    result.seconds = already + time.perf_counter() - started
    result.prompt_tokens = sum(s.prompt_tokens for s in result.steps)
    result.completion_tokens = sum(s.completion_tokens for s in result.steps)
    return result


class _EvidenceCheck:
    """Maps every quote to the original text and flags what a reviewer should look at.

    With a lexicon (the schema's entity values), a quote that names none of its
    key's values is flagged too: small models reuse a quote from another finding
    ("pleural thickening", evidence "No new nodule or mass"). Whether a quote reads
    as negated is the detector's answer (AssertionDetector.span_negated): a
    trigger at the quote's edges or around it, within its scope.

    A quote copied from the prompt's own examples is not evidence at all: small
    models return "No evidence of lung cancer" for reports that never say it, and
    the fuzzy matcher can then find a look-alike sentence. Such a finding is
    dropped (recorded in MappingResult.rejected), unless the report itself says
    the very words, when the quote is the report's and stands."""

    def __init__(
        self,
        lexicon: Lexicon | None,
        detector: AssertionDetector | None = None,
        also: Mapping[str, Sequence[str]] | None = None,
        *,
        templates: Sequence[PromptTemplate] = (),
    ) -> None:
        self.matcher = Matcher(lexicon_values(lexicon)) if lexicon else None
        self.detector = detector or default_detector()
        self.also = also or {}
        quotes: set[str] = set()
        reports: list[str] = []
        for template in templates:
            template_quotes, template_reports = template.example_texts()
            quotes |= template_quotes
            reports += template_reports
        self.example_quotes = frozenset(quotes)
        self.example_reports = tuple(reports)

    def check(self, findings: list[Finding], text: str, hint: Sequence[str] | None) -> list[dict[str, str]]:
        """Locate and flag every finding in place; drop (and return) the ones whose
        quote was copied from the prompt's examples."""
        rejected = self._drop_copies(findings, text)
        norm: NormalizedText = normalize(text)
        for f in findings:
            f.evidence_span = locate_evidence(text, f.evidence, norm)
            if f.episode_evidence:
                f.episode_evidence_span = locate_evidence(text, f.episode_evidence, norm)
            f.flags = self._flags(f, text, hint)
        return rejected

    def copied(self, quote: str, folded_report: str) -> bool:
        """Whether `quote` is one of the examples' quotes or words of an example
        report, and not words of this report."""
        folded = quote_fold(quote)
        if not folded or folded in folded_report:
            return False
        return folded in self.example_quotes or any(folded in example for example in self.example_reports)

    def _drop_copies(self, findings: list[Finding], text: str) -> list[dict[str, str]]:
        if not self.example_quotes and not self.example_reports:
            return []
        folded_report = quote_fold(text)
        rejected: list[dict[str, str]] = []
        kept: list[Finding] = []
        for f in findings:
            if self.copied(f.evidence, folded_report):
                rejected.append(
                    {"key": f.key, "status": f.status, "quote": f.evidence, "reason": REJECT_EXAMPLE}
                )
                continue
            if f.episode_evidence and self.copied(f.episode_evidence, folded_report):
                # The diagnosis stands on its own quote; only the episode was copied.
                rejected.append(
                    {
                        "key": f.key,
                        "status": f.episode or "",
                        "quote": f.episode_evidence,
                        "reason": REJECT_EXAMPLE,
                    }
                )
                f.episode, f.episode_evidence = None, ""
            kept.append(f)
        findings[:] = kept
        return rejected

    def _flags(self, f: Finding, text: str, hint: Sequence[str] | None) -> list[str]:
        flags = []
        negated = f.evidence_span is not None and self.detector.span_negated(text, f.evidence_span)
        if f.evidence_span is None:
            flags.append(FLAG_UNMATCHED)
        if self.matcher is not None and not self._names_key(f):
            flags.append(FLAG_KEY_NOT_IN_EVIDENCE)
        if f.status in POSITIVE:
            if negated:
                flags.append(FLAG_NEGATED_CONTEXT)
            hinted = hint is not None and f.key in hint
            if hinted and (negated or FLAG_UNMATCHED in flags or FLAG_KEY_NOT_IN_EVIDENCE in flags):
                flags.append(FLAG_HINT_LEAK)
            if hint is not None and not hinted:
                flags.append(FLAG_NOT_IN_HINT)
        elif f.evidence_span is not None and not negated:
            flags.append(FLAG_NOT_NEGATED)
        return flags

    def _names_key(self, f: Finding) -> bool:
        assert self.matcher is not None
        accepted = {f.key, *self.also.get(f.key, ())}
        return any(key in accepted for m in self.matcher.find(f.evidence) for key in m.keys)


# --- evidence: quote -> offsets in the original text -------------------------------

FUZZY_MIN_COVERAGE = 0.8  # share of the quote's characters found, in order, in one sentence
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def locate_evidence(original: str, quote: str, norm: NormalizedText | None = None) -> tuple[int, int] | None:
    """Offsets [start, end) in `original` of the model's quote, or None (unmatched).

    Tried in order: the quote as is; the quote normalized like the model input
    (symbols and whitespace runs collapsed, which is what the model saw),
    case-insensitively; then a fuzzy match over sentences with difflib, accepted
    when most of the quote's characters appear in order within one sentence.
    """
    quote = quote.strip()
    if not quote:
        return None
    exact = original.find(quote)
    if exact >= 0:
        return exact, exact + len(quote)
    norm = norm or normalize(original)
    needle = fold(normalize(quote).text)
    if not needle:
        return None
    haystack = fold(norm.text)
    found = haystack.find(needle)
    if found >= 0:
        return norm.to_original(found, found + len(needle))
    span = _fuzzy_span(haystack, needle)
    return norm.to_original(*span) if span else None


def _fuzzy_span(haystack: str, needle: str) -> tuple[int, int] | None:
    best: tuple[float, int, int] | None = None
    start = 0
    for piece in [*_SENTENCE_END.split(haystack)]:
        offset = haystack.find(piece, start)
        start = offset + len(piece)
        matcher = difflib.SequenceMatcher(None, needle, piece, autojunk=False)
        blocks = [b for b in matcher.get_matching_blocks() if b.size]
        if not blocks:
            continue
        coverage = sum(b.size for b in blocks) / len(needle)
        lo, hi = blocks[0].b, blocks[-1].b + blocks[-1].size
        # A match scattered over a long sentence is a coincidence, not a quote.
        compact = hi - lo <= 1.5 * len(needle) + 10
        if coverage >= FUZZY_MIN_COVERAGE and compact and (best is None or coverage > best[0]):
            best = (coverage, offset + lo, offset + hi)
    return (best[1], best[2]) if best else None

"""The questions the combined extractor may put to the LLM, and what each kind of
question is measured to be worth.

    policy = QuestionPolicy.of(["location"])            # the types asked by default
    question = location_question(...)                   # sentences + candidate answers
    messages, schema = question.prompt()                # one short call, enum answers
    help = question_help(records, gold)                 # per type: asked, changed, right, wrong

A question is never open generation: it carries the sentences concerned and the
answers to choose from (the statuses, or the location keys the text near the
mention could mean), the JSON schema restricts the reply to them, and the answer
counts only with a quote found inside those sentences.

Question types (one per flag the extractor raises):

* `status_disagree` - the rules and a trusted stage 1 disagree on a key the
  lexicon matched: present, negated or uncertain, from the mention's sentences;
* `status_silent` - stage 1 alone found a lesion the lexicon did not: present,
  uncertain or not mentioned, from the sentences about the lungs and pleura;
* `status_unparsed` - the report could not be segmented: the status from the
  (capped) text;
* `location` - a present lesion the rules linked to no location, where the
  sentence and its neighbours name locations: which of those keys it is in.

Which types are asked is a policy: the site's (inference.models.LLMQuestionType,
set from a measurement on its verified data or by an admin), else the default
measured on the 150 gold reports (docs/decisions.md). Plain Python, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_DISAGREE = "status_disagree"
STATUS_SILENT = "status_silent"
STATUS_UNPARSED = "status_unparsed"
LOCATION = "location"
QUESTION_TYPES: tuple[str, ...] = (STATUS_DISAGREE, STATUS_SILENT, STATUS_UNPARSED, LOCATION)
QUESTION_LABELS = {
    STATUS_DISAGREE: "Status where the rules and stage 1 disagree",
    STATUS_SILENT: "Status of a lesion only stage 1 found",
    STATUS_UNPARSED: "Status in a report that could not be segmented",
    LOCATION: "Location of a present lesion the rules could not place",
}
# Measured with the bundled 1.5B model on ctrate_train150_gold.jsonl (docs/decisions.md,
# "Issue 14: the LLM asked only where it helps"): no type changed more findings right than
# wrong, so none is asked until a site's own measurement says otherwise.
DEFAULT_ASKED: frozenset[str] = frozenset()

NOT_STATED = "not stated"
NOT_MENTIONED = "not mentioned"
POSITIVE = ("present", "uncertain")
_MIN_QUOTE_CHARS = 8


@dataclass(frozen=True, slots=True)
class QuestionPolicy:
    """The question types the LLM is asked; the rest stay flags for the reviewer."""

    asked: frozenset[str] = DEFAULT_ASKED

    @classmethod
    def of(cls, types: Iterable[str]) -> QuestionPolicy:
        chosen = frozenset(types)
        unknown = chosen - set(QUESTION_TYPES)
        if unknown:
            raise ValueError(
                f"unknown question type(s) {sorted(unknown)}; known: {', '.join(QUESTION_TYPES)}"
            )
        return cls(chosen)

    @classmethod
    def everything(cls) -> QuestionPolicy:
        return cls(frozenset(QUESTION_TYPES))

    def asks(self, kind: str) -> bool:
        return kind in self.asked

    def key(self) -> str:
        """For run keys: a run under another policy is another run."""
        return "q:" + (",".join(t for t in QUESTION_TYPES if t in self.asked) or "none")


@dataclass(slots=True)
class Question:
    kind: str
    key: str  # the lesion key asked about
    sentences: list[tuple[int, int]]  # [start, end) offsets of the sentences shown
    candidates: list[str]
    text: str  # the report (not stored; the sentences are cut from it)
    multiple: bool = False  # location: any number of candidates

    def excerpt(self) -> list[str]:
        return [" ".join(self.text[s:e].split()) for s, e in self.sentences]

    def prompt(self) -> tuple[list[dict[str, str]], dict[str, Any]]:
        numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(self.excerpt(), start=1))
        choices = ", ".join(f'"{c}"' for c in self.candidates)
        if self.kind == LOCATION:
            ask = (
                f"Where is the {self.key} these sentences describe? Choose every location from: "
                f'{choices}. "both lower lobes" means right lower lobe and left lower lobe; '
                f'choose "{NOT_STATED}" when the sentences do not say where the {self.key} is.'
            )
            answer: dict[str, Any] = {
                "type": "array",
                "items": {"enum": list(self.candidates)},
                "minItems": 1,
                "maxItems": len(self.candidates),
            }
        else:
            ask = (
                f"Is {self.key} present, uncertain (only suspected or not excluded) or negated "
                f"(stated absent or resolved) according to these sentences? Choose one of: {choices}."
            )
            answer = {"enum": list(self.candidates)}
        system = (
            "You answer one question about sentences from a chest CT report, as JSON "
            '{"answer": ..., "quote": "..."}. The quote is the exact words of the sentences that '
            "support the answer. Use only the sentences."
        )
        user = f"### Sentences:\n{numbered}\n### Question:\n{ask}"
        schema = {
            "type": "object",
            "properties": {"answer": answer, "quote": {"type": "string", "maxLength": 240}},
            "required": ["answer", "quote"],
        }
        return [{"role": "system", "content": system}, {"role": "user", "content": user}], schema

    def quote_span(self, quote: str, locate: Any) -> tuple[int, int] | None:
        """The quote's offsets when it lies inside the sentences shown (a quote from
        elsewhere in the report, or a word or two, is no evidence)."""
        if len(quote.strip()) < _MIN_QUOTE_CHARS:
            return None
        for start, end in self.sentences:
            span = locate(self.text[start:end], quote)
            if span is not None:
                return start + span[0], start + span[1]
        return None


def status_candidates(kind: str) -> list[str]:
    if kind == STATUS_SILENT:
        return ["present", "uncertain", NOT_MENTIONED]
    return ["present", "uncertain", "negated"]


@dataclass(slots=True)
class QuestionRecord:
    """One question asked (or not) and what it did, for provenance and measurement."""

    kind: str
    key: str
    asked: bool
    before: dict[str, Any]  # {"status", "locations"} before the answer
    after: dict[str, Any]  # the same after it (equal to before when nothing changed)
    candidates: list[str] = field(default_factory=list)
    answer: Any = None
    quote: str = ""
    quote_found: bool = False
    applied: bool = False
    error: str = ""

    @property
    def changed(self) -> bool:
        return self.applied and (
            self.before["status"] != self.after["status"]
            or sorted(self.before["locations"]) != sorted(self.after["locations"])
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["changed"] = self.changed
        return out


@dataclass(slots=True)
class TypeHelp:
    asked: int = 0
    answered: int = 0  # a reply that parsed, with a quote inside the sentences
    changed: int = 0
    right: int = 0  # changed, and the finding is closer to gold than before
    wrong: int = 0  # changed, and further from gold

    @property
    def helps(self) -> bool:
        return type_helps(asdict(self))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "helps": self.helps}


def question_help(
    records: Sequence[Sequence[Mapping[str, Any]]], gold: Sequence[Mapping[str, Any] | None]
) -> dict[str, dict[str, Any]]:
    """Per question type, over reports (each report's question records, as dicts, and
    its gold object): how often it was asked, answered with a quote, changed the
    finding, and whether the change moved it toward gold (right) or away (wrong).
    A status counts as right when its presence matches gold's; locations by the
    finding's location F1 against gold's."""
    out = {kind: TypeHelp() for kind in QUESTION_TYPES}
    for report_records, report_gold in zip(records, gold, strict=True):
        lesions = (report_gold or {}).get("lesions") or {}
        for record in report_records:
            tally = out.setdefault(str(record["kind"]), TypeHelp())
            if not record.get("asked"):
                continue
            tally.asked += 1
            tally.answered += bool(record.get("quote_found"))
            if not record.get("changed"):
                continue
            tally.changed += 1
            truth = lesions.get(record["key"]) or {}
            before = _closeness(record["before"], truth, record["kind"])
            after = _closeness(record["after"], truth, record["kind"])
            tally.right += after > before
            tally.wrong += after < before
    return {kind: t.as_dict() for kind, t in out.items()}


def _closeness(finding: Mapping[str, Any], truth: Mapping[str, Any], kind: str) -> float:
    present = finding.get("status") in POSITIVE
    gold_present = truth.get("status", "absent") in POSITIVE
    if kind != LOCATION:
        return float(present == gold_present)
    if not (present and gold_present):
        return float(present == gold_present)
    mine, theirs = set(finding.get("locations") or ()), set(truth.get("locations") or ())
    if not mine and not theirs:
        return 1.0
    hits = len(mine & theirs)
    return 2 * hits / (len(mine) + len(theirs))


def type_helps(figures: Mapping[str, Any]) -> bool:
    """The one rule for asking a question type: its changes moved more findings
    toward gold than away."""
    return int(figures.get("right") or 0) > int(figures.get("wrong") or 0)


def helpful_types(help_by_type: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The types a measurement says to ask."""
    return frozenset(k for k, v in help_by_type.items() if type_helps(v))

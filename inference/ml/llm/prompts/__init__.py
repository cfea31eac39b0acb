"""Prompt templates for stage 2, one folder per task, kept under version control.

Each folder holds `instructions.txt` (the system message; `$name` placeholders
are filled with the schema's key lists) and `examples.json` (the two in-context
examples: report, stage 1 hint, expected output). A template's version is a hash
of its files plus the user-message layout below, so a prediction can be keyed by
the exact prompt that produced it and a wording change never silently mixes
with old results.

Messages follow the method: instructions, the two examples as user/assistant
turns, then the report, each user turn ending with the hint line
("### Target Lesions: ..." / "### Target Diseases: ...") when a hint is given.
Plain Python, no Django.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from inference.ml.preprocess import normalize

TEMPLATE_DIR = Path(__file__).resolve().parent
TASKS = ("chest_ct_relations", "brain_mri_step1", "brain_mri_episode", "brain_mri_nontumor")
HINT_LABELS = {
    "chest_ct_relations": "Target Lesions",
    "brain_mri_step1": "Target Diseases",
    "brain_mri_episode": "Target Diseases",
    "brain_mri_nontumor": "Target Diseases",
}
# Part of every template's version: changing the layout changes every version.
REPORT_LAYOUT = "### Report:\n{report}"
HINT_LAYOUT = "### {label}: {hint}"

Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class Example:
    report: str
    hint: tuple[str, ...]
    output: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    instructions: str
    examples: tuple[Example, ...]
    version: str

    @property
    def hint_label(self) -> str:
        return HINT_LABELS[self.name]

    def example_texts(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """(every quote the examples' outputs give, every example report), folded
        with `quote_fold`: what a model that copies its examples would return."""
        quotes: set[str] = set()
        for example in self.examples:
            quotes.update(quote_fold(q) for q in _quotes_in(example.output))
        return frozenset(q for q in quotes if q), tuple(quote_fold(e.report) for e in self.examples)

    def system(self, values: Mapping[str, str]) -> str:
        return Template(self.instructions).substitute(values).strip()


@cache
def load_template(name: str) -> PromptTemplate:
    if name not in TASKS:
        raise ValueError(f"unknown prompt template {name!r}; one of {TASKS}")
    folder = TEMPLATE_DIR / name
    instructions = (folder / "instructions.txt").read_text(encoding="utf-8")
    raw_examples = json.loads((folder / "examples.json").read_text(encoding="utf-8"))
    examples = tuple(Example(e["report"], tuple(e.get("hint", ())), e["output"]) for e in raw_examples)
    return PromptTemplate(name, instructions, examples, _version(folder))


def _version(folder: Path) -> str:
    sha = hashlib.sha256(f"{REPORT_LAYOUT}\0{HINT_LAYOUT}\0".encode())
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            sha.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:12]


def prompt_versions() -> dict[str, str]:
    """PROMPT_VERSION of every template (a hash of its files)."""
    return {name: load_template(name).version for name in TASKS}


def user_message(report: str, *, label: str, hint: Sequence[str] | None) -> str:
    """The user turn: the (already normalized) report, then the hint line if any."""
    head = REPORT_LAYOUT.format(report=report)
    if hint is None:
        return head
    return head + "\n" + HINT_LAYOUT.format(label=label, hint=", ".join(hint) if hint else "none")


def build_messages(
    template: PromptTemplate,
    *,
    report: str,
    hint: Sequence[str] | None,
    values: Mapping[str, str],
    conform: Callable[[Mapping[str, Any]], Mapping[str, Any]] = lambda output: output,
    example_hints: bool | None = None,
) -> list[Message]:
    """Exact messages for one report.

    `report` is the original text (normalized here, as the method does for model
    input). `conform` adapts example outputs to the site's schema (drops keys it
    does not have, orders them as the grammar will). `example_hints` defaults to
    "show the examples' hints when the report has one".
    """
    show_hints = hint is not None if example_hints is None else example_hints
    prefix = prefix_messages(template, values=values, conform=conform, show_hints=show_hints)
    return [*prefix, report_message(template, report=report, hint=hint)]


def prefix_messages(
    template: PromptTemplate,
    *,
    values: Mapping[str, str],
    conform: Callable[[Mapping[str, Any]], Mapping[str, Any]] = lambda output: output,
    show_hints: bool,
) -> list[Message]:
    """The messages before the report's own (instructions, then the examples): the same
    for every report of a run with the same schema and hint display, so a caller may
    build them once (build_messages' arguments, `show_hints` resolved)."""
    messages: list[Message] = [{"role": "system", "content": template.system(values)}]
    for example in template.examples:
        shown = example.hint if show_hints else None
        messages.append({"role": "user", "content": _user(template, example.report, shown)})
        answer = json.dumps(conform(example.output), ensure_ascii=False, separators=(",", ":"))
        messages.append({"role": "assistant", "content": answer})
    return messages


def report_message(template: PromptTemplate, *, report: str, hint: Sequence[str] | None) -> Message:
    """The report's user turn (the last message of build_messages)."""
    return {"role": "user", "content": _user(template, report, hint)}


_FOLD_SPACE = re.compile(r"\s+")
_FOLD_EDGES = " .,;:!?-*\"'()[]"


def quote_fold(text: str) -> str:
    """A quote compared as a reader would: case, runs of spaces and edge punctuation
    ignored ("No evidence of lung cancer." == "no evidence of  lung cancer")."""
    return _FOLD_SPACE.sub(" ", text.casefold()).strip(_FOLD_EDGES)


def _quotes_in(output: Any) -> list[str]:
    """The evidence strings ("e" values) anywhere in an example's output."""
    if isinstance(output, Mapping):
        found = [v for k, v in output.items() if k == "e" and isinstance(v, str)]
        return found + [q for k, v in output.items() if k != "e" for q in _quotes_in(v)]
    if isinstance(output, list | tuple):
        return [q for item in output for q in _quotes_in(item)]
    return []


def _user(template: PromptTemplate, report: str, hint: Sequence[str] | None) -> str:
    return user_message(normalize(report).text, label=template.hint_label, hint=hint)

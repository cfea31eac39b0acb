"""Inference rows as the stage 1 and stage 2 jobs store them, the stage 1 corpora
with their tiny trained artefact, and a scripted LLM wired in as the stage 2 backend."""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import factory
import pytest

from annotations.models import Assignment, Report
from inference.ml.llm.backends import FakeBackend, LLMUnavailable
from inference.ml.llm.schemas import conform
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from inference.services import stage2_backend
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key, modality

# -- registry rows and predictions --------------------------------------------------------


class ModelVersionFactory(factory.django.DjangoModelFactory[ModelVersion]):
    class Meta:
        model = ModelVersion

    modality = factory.LazyFunction(lambda: modality("chest_ct"))
    name = factory.Sequence(lambda n: f"stage1-test-{n}")
    preset = "tiny"
    status = ModelVersion.Status.READY
    keys = factory.LazyFunction(list)
    thresholds = factory.LazyFunction(dict)


class Stage1PredictionFactory(factory.django.DjangoModelFactory[Stage1Prediction]):
    """A stage 1 prediction; unless given, its keys are those at or above 0.5 and its
    model is one of the report's modality."""

    class Meta:
        model = Stage1Prediction

    report = factory.SubFactory(ReportFactory)
    model_version = factory.SubFactory(
        ModelVersionFactory, modality=factory.SelfAttribute("..report.modality")
    )
    probabilities = factory.LazyFunction(dict)
    predicted_keys = factory.LazyAttribute(lambda o: [k for k, p in o.probabilities.items() if p >= 0.5])


class Stage2PredictionFactory(factory.django.DjangoModelFactory[Stage2Prediction]):
    class Meta:
        model = Stage2Prediction

    report = factory.SubFactory(ReportFactory)
    mode = Stage2Prediction.Mode.LLM_HINT
    run_key = factory.Sequence(lambda n: f"llm_hint|fake|p1|run{n}")
    llm_name = "fake-llm"
    prompt_version = "p1"
    status = Stage2Prediction.Status.OK
    messages = factory.LazyFunction(
        lambda: [
            {"role": "system", "content": "Map lesions to locations. Example 1 … Example 2 …"},
            {"role": "user", "content": "Candidates: nodule\nReport: …"},
        ]
    )
    raw_output = '{"nodule": {"s": "present", "l": ["right upper lobe"], "e": "nodule"}}'
    parsed = factory.LazyFunction(
        lambda: {"nodule": {"s": "present", "l": ["right upper lobe"], "e": "nodule"}}
    )
    findings = factory.LazyFunction(list)


def finding(
    text: str,
    key: str,
    quote: str,
    *,
    status: str = "present",
    kind: str = "lesion",
    locations: list[str] | None = None,
    episode: str | None = None,
    details: list[str] | None = None,
    flags: list[str] | None = None,
) -> dict[str, Any]:
    """A stage 2 finding dict as mapping.Finding serialises it, its span located in `text`."""
    at = text.find(quote) if quote else -1
    return {
        "key": key,
        "status": status,
        "kind": kind,
        "locations": locations or [],
        "episode": episode,
        "details": details or [],
        "evidence": quote,
        "evidence_span": [at, at + len(quote)] if at >= 0 else None,
        "episode_evidence": "",
        "episode_evidence_span": None,
        "flags": flags or ([] if at >= 0 else ["evidence_unmatched"]),
    }


# -- stage 1 corpora: reports whose gold labels follow their keywords ----------------------

# The key names are the default chest CT schema's; the phrases are what reports say.
PHRASES = {
    "nodule": "a small nodule",
    "consolidation": "patchy consolidation",
    "pleural effusion": "pleural effusion",
}
FILLER = [
    "Lungs are otherwise clear.",
    "Heart size is normal.",
    "No interval change.",
    "Mediastinum unremarkable.",
]
# A corpus report's source and id decide whether it is held out (stage1_data.is_heldout),
# so the tests' held-out sets are the same on every run.
CORPUS_SOURCE = "stage1-test"


def corpus_report(*, external_id: str, text: str) -> Report:
    """A chest CT report of the stage 1 corpora, its patient named after it (p-<id>)."""
    return ReportFactory.create(
        source=CORPUS_SOURCE, external_id=external_id, patient_id=f"p-{external_id}", text=text
    )


def corpus_gold(report: Report, statuses: dict[str, str]) -> Assignment:
    """Imported gold for `report`: one mention per key, status "present", "negated"
    or "uncertain"; each key's phrase must occur in the text."""
    assignment = AssignmentFactory.create(report=report, imported=True)
    for name, status in statuses.items():
        start = report.text.index(PHRASES[name])
        MentionFactory(
            assignment=assignment,
            key=entity_key(name),
            start=start,
            end=start + len(PHRASES[name]),
            negated=status == "negated",
            uncertain=status == "uncertain",
            created_by=assignment.annotator,
        )
    return assignment


def synthetic_text(rng: random.Random, present: list[str]) -> str:
    parts = [f"There is {PHRASES[k]}." for k in present] + rng.sample(FILLER, 2)
    rng.shuffle(parts)
    return " ".join(parts)


def gold_corpus(n: int, *, seed: int = 5, prefix: str = "g") -> list[Report]:
    """n chest CT reports with imported gold: each key present with probability 0.4."""
    rng = random.Random(seed)
    reports = []
    for i in range(n):
        present = [k for k in PHRASES if rng.random() < 0.4]
        report = corpus_report(external_id=f"{prefix}{i}", text=synthetic_text(rng, present))
        corpus_gold(report, dict.fromkeys(present, "present"))
        reports.append(report)
    return reports


def unlabelled_corpus(n: int, *, seed: int = 9, prefix: str = "u") -> list[Report]:
    rng = random.Random(seed)
    return [
        corpus_report(
            external_id=f"{prefix}{i}", text=synthetic_text(rng, [k for k in PHRASES if rng.random() < 0.4])
        )
        for i in range(n)
    ]


# -- a tiny trained stage 1 artefact -------------------------------------------------------

_TINY: dict[str, Path] = {}


def tiny_artifact() -> Path:
    """A tiny classifier of the PHRASES keys, trained once per test process (seconds)
    into a temporary directory; copy it before pointing a version at it."""
    if "path" not in _TINY:
        # torch takes a second to import: only the tests that need a model pay for it.
        import numpy as np
        import torch

        from inference.ml.bert import LabelledSet, TrainConfig, finetune, get_preset

        rng = random.Random(3)
        keys = list(PHRASES)
        rows = [[rng.random() < 0.4 for _ in keys] for _ in range(160)]
        texts = [synthetic_text(rng, [k for k, on in zip(keys, row, strict=True) if on]) for row in rows]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            out = Path(tempfile.mkdtemp(prefix="stage1-tiny-")) / "model"
            finetune(
                LabelledSet(texts, np.array(rows, dtype=np.float32)),
                keys=keys,
                preset=get_preset("tiny"),
                out_dir=out,
                config=TrainConfig(epochs=8, batch_size=16, learning_rate=2e-3, patience=3, seed=3),
            )
        finally:
            torch.set_num_threads(threads)
        _TINY["path"] = out
    return _TINY["path"]


def installed_version(storage: Path, **fields: Any) -> ModelVersion:
    """A ready chest CT version whose artefact is a copy of the tiny classifier under
    `storage` (the test's MODEL_STORAGE_DIR), its keys and thresholds the artefact's."""
    from inference.ml.bert import Stage1Predictor  # torch, as in tiny_artifact

    artifact = storage / "chest_ct/v-test/model"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_artifact(), artifact)
    manifest = Stage1Predictor.load(artifact).manifest
    return ModelVersionFactory.create(
        keys=list(manifest.keys),
        thresholds=dict(manifest.thresholds),
        artifact_path=str(artifact.relative_to(storage)),
        **fields,
    )


# -- a scripted LLM for stage 2 ------------------------------------------------------------

CHEST_TEXT = "Findings:\n8 mm nodule in the RUL.\nNo pleural effusion."
CHEST_OUTPUT = {
    "nodule": {"s": "present", "l": ["right upper lobe"], "e": "8 mm nodule in the RUL"},
    "pleural effusion": {"s": "negated", "e": "No pleural effusion"},
}


class ScriptedLLM:
    """A fake LLM whose answer depends on the report: `answers` maps a substring of
    the report to an output (dict, str, an exception to raise, or a callable (messages, schema) -> output).
    Dict outputs are written in the readable form ({"nodule": {"s", "l", "e"}}) and
    answered in the compact form the grammar produces. Unknown reports get "{}"."""

    def __init__(self, answers: dict[str, Any] | None = None, *, delay: float = 0.0) -> None:
        self.answers = answers or {}
        self.delay = delay
        self.backend = FakeBackend(self._answer, name="scripted-llm")

    def _answer(self, messages: Sequence[dict[str, str]], schema: dict[str, Any]) -> Any:
        if self.delay:
            time.sleep(self.delay)
        report = messages[-1]["content"]
        for needle, answer in self.answers.items():
            if needle in report:
                if isinstance(answer, BaseException):
                    raise answer
                if callable(answer):
                    answer = answer(messages, schema)
                return conform(answer, schema) if isinstance(answer, dict) else answer
        return "{}"

    @property
    def calls(self) -> list[Any]:
        return self.backend.calls


def install(monkeypatch: pytest.MonkeyPatch, llm: ScriptedLLM) -> ScriptedLLM:
    """Make `llm` the configured backend for every template."""
    monkeypatch.setattr(stage2_backend, "llm_backend", lambda template="": llm.backend)
    return llm


def flaky(failures: int, then: Any) -> Callable[[list[dict[str, str]], dict[str, Any]], Any]:
    """An answer that raises LLMUnavailable `failures` times, then returns `then`."""
    left = [failures]

    def answer(messages: list[dict[str, str]], schema: dict[str, Any]) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise LLMUnavailable("LLM server http://gpu:8080/v1/chat/completions is unreachable")
        return then

    return answer

"""Evaluate prediction modes against gold labels with the method's metrics.

    result = evaluate_modes(items=[EvalItem(report, gold), ...], modes=["bert", "llm", "llm_hint", "rules"])

A *mode* is a named runner registered with `register_mode`; it turns reports into
gold-shaped predictions (the "gold" object of a gold file, docs/gold-files.md).
The built-in modes are registered from InferenceConfig.ready() by
inference.services.evaluation_modes: "bert" (stage 1 keys only: no relations),
every stage 2 mode of the stage 2 registry ("llm", "llm_hint", "rules",
"combined": stored as Stage2Prediction rows of purpose "evaluation" as a side
effect), and the rule engine's "keyword" and "rules_engine". Other code adds its own:

    def runner(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]: ...
    register_mode("everything", runner, relations=False, description="...", label="...")

The registry is also where every screen reads a mode's label (`mode_labels`).

`evaluate_modes` returns plain, JSON-ready dicts (see `evaluate_modes` for the
layout): per mode the entity-key metrics (report level, per key, micro, macro),
the relation metrics (per key, macro, micro), per-report vectors for McNemar's
test and paired bootstraps, failures, and seconds per report.

Entity keys of a report are its findings whose status is present or uncertain
(chest CT: lesions; brain MRI: the five diagnosis groups, and the four non-tumor
detail keys in a separate table). Relations are scored by
inference.ml.relation_metrics: chest CT lesion -> locations (pleural effusion and
thickening left out), brain MRI malignant diagnosis -> episode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from annotations.models import Modality, Report
from inference.ml.llm.schemas import BrainKeys, ChestKeys
from inference.ml.metrics import entity_key_metrics, report_scores
from inference.ml.questions import question_help
from inference.ml.relation_metrics import Scores, brain_pairs, chest_pairs, relation_metrics
from inference.services.stage2_modes.schema import ModalitySchema, modality_schema

POSITIVE = ("present", "uncertain")


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One report with its gold labels (the "gold" object of a gold-file line)."""

    report: Report
    gold: dict[str, Any]


@dataclass(slots=True)
class ModeOutput:
    """A runner's answer for one report: a gold-shaped prediction, or None when the
    mode failed on it (scored as "nothing predicted" and counted in `failed`)."""

    prediction: dict[str, Any] | None
    seconds: float = 0.0
    error: str = ""
    # The combined mode's LLM questions for this report (QuestionRecord dicts), if any.
    questions: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class EvalContext:
    modality: Modality
    schema: ModalitySchema
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"timeout": 60, "backend_for": ...}
    # Called after each report with (mode, done, total); may raise to stop (JobCancelled).
    progress: Callable[[str, int, int], None] | None = None

    def tick(self, mode: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(mode, done, total)


ModeRunner = Callable[[Sequence[EvalItem], EvalContext], list[ModeOutput]]


@dataclass(frozen=True, slots=True)
class ModeSpec:
    name: str
    runner: ModeRunner
    relations: bool  # False: the mode predicts keys only; its relation table is left out
    description: str
    label: str  # short name in tables and charts


_REGISTRY: dict[str, ModeSpec] = {}


def register_mode(
    name: str, runner: ModeRunner, *, relations: bool = True, description: str = "", label: str = ""
) -> None:
    """Make a mode available to evaluate_modes and the `evaluate` command (re-registering
    a name replaces it). Its label defaults to its name."""
    _REGISTRY[name] = ModeSpec(name, runner, relations, description, label or name)


def registered_modes() -> dict[str, ModeSpec]:
    """name -> spec, in registration order (the order screens list the modes in)."""
    return dict(_REGISTRY)


def mode_labels() -> dict[str, str]:
    """name -> label of every registered mode, in registration order."""
    return {name: spec.label for name, spec in _REGISTRY.items()}


class EvaluationError(ValueError):
    """Bad evaluation input (unknown mode, mixed modalities, no items)."""


def evaluate_modes(
    *,
    items: Sequence[EvalItem],
    modes: Sequence[str],
    options: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run each mode over the items (all of one modality) and score it against gold.

    Returns::

        {"modality": "chest_ct", "n_reports": N, "report_ids": [...],
         "entity_keys": [...], "relation_keys": [...],
         "modes": {name: {
             "description": str, "relations_scored": bool,
             "entity": {"report": {accuracy, precision, recall, f1, specificity, n_*},
                        "per_key": {key: {tp, fp, fn, tn, precision, recall, f1, specificity, support}},
                        "micro": {...}, "macro": {...}},
             "entity_non_tumor": {...} (brain MRI only),
             "relations": {"per_key": {key: {n, accuracy, precision, recall, f1}},
                           "macro": {...}, "micro": {...}} or None,
             "per_report": {"correct": [bool], "f1": [float|None],
                            "relation_exact": [bool|None], "relation_f1": [float|None],
                            "failed": [bool]},
             "failed": int, "errors": [str (first 5)],
             "questions": {type: {asked, answered, changed, right, wrong, helps}} (combined only),
             "seconds_per_report": float, "seconds_total": float}}}

    Every list under "per_report" follows `report_ids`. Raises EvaluationError for
    an unknown mode, no items, or items of more than one modality.
    """
    if not items:
        raise EvaluationError("nothing to evaluate: no reports with gold labels")
    unknown = [m for m in modes if m not in _REGISTRY]
    if unknown:
        raise EvaluationError(
            f"unknown mode(s) {', '.join(unknown)}; registered: {', '.join(sorted(_REGISTRY))}"
        )
    modality_ids = {item.report.modality_id for item in items}
    if len(modality_ids) != 1:
        raise EvaluationError("evaluate one modality at a time")
    modality = items[0].report.modality
    schema = modality_schema(modality)
    ctx = EvalContext(modality, schema, dict(options or {}), progress)
    entity_keys, relation_keys = _key_lists(schema)
    gold_keys = [_entity_keys(item.gold, schema) for item in items]
    gold_pairs = [_pairs(item.gold, schema) for item in items]
    out: dict[str, Any] = {
        "modality": modality.code,
        "n_reports": len(items),
        "report_ids": [item.report.pk for item in items],
        "entity_keys": list(entity_keys),
        "relation_keys": list(relation_keys),
        "modes": {},
    }
    for name in modes:
        spec = _REGISTRY[name]
        started = time.perf_counter()
        outputs = spec.runner(items, ctx)
        total = time.perf_counter() - started
        if len(outputs) != len(items):
            raise EvaluationError(f"mode {name} returned {len(outputs)} results for {len(items)} reports")
        out["modes"][name] = _score_mode(spec, outputs, items, schema, gold_keys, gold_pairs, total)
    return out


def _key_lists(schema: ModalitySchema) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keys = schema.keys
    if isinstance(keys, ChestKeys):
        return keys.lesions, tuple(k for k in keys.lesions if k not in keys.implicit)
    return keys.diagnoses, keys.malignant


def _entity_keys(gold: dict[str, Any] | None, schema: ModalitySchema) -> set[str]:
    if not gold:
        return set()
    section = gold.get("lesions") if isinstance(schema.keys, ChestKeys) else gold.get("diagnoses")
    return {key for key, value in (section or {}).items() if value.get("status", "present") in POSITIVE}


def _non_tumor_keys(gold: dict[str, Any] | None) -> set[str]:
    return set((gold or {}).get("non_tumor") or ())


def _pairs(gold: dict[str, Any] | None, schema: ModalitySchema) -> dict[str, set[str]]:
    keys = schema.keys
    if not gold:
        return {}
    if isinstance(keys, ChestKeys):
        return chest_pairs(gold, exclude=tuple(keys.implicit))
    return brain_pairs(gold, malignant=keys.malignant)


def _scores_dict(scores: Scores) -> dict[str, Any]:
    return {
        "n": scores.n,
        "accuracy": scores.accuracy,
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
    }


def _score_mode(
    spec: ModeSpec,
    outputs: list[ModeOutput],
    items: Sequence[EvalItem],
    schema: ModalitySchema,
    gold_keys: list[set[str]],
    gold_pairs: list[dict[str, set[str]]],
    total_seconds: float,
) -> dict[str, Any]:
    entity_keys, relation_keys = _key_lists(schema)
    predictions = [o.prediction for o in outputs]
    pred_keys = [_entity_keys(p, schema) for p in predictions]
    entity = entity_key_metrics(gold_keys, pred_keys, keys=list(entity_keys))
    per_report = report_scores(gold_keys, pred_keys)
    result: dict[str, Any] = {
        "description": spec.description,
        "relations_scored": spec.relations,
        "entity": entity.to_dict(),
        "relations": None,
        "per_report": {
            "correct": [s.correct for s in per_report],
            "f1": [s.f1 for s in per_report],
            "relation_exact": [None] * len(items),
            "relation_f1": [None] * len(items),
            "failed": [p is None for p in predictions],
        },
        "failed": sum(p is None for p in predictions),
        "errors": [o.error for o in outputs if o.error][:5],
        "seconds_total": round(total_seconds, 3),
        "seconds_per_report": round(fmean(o.seconds for o in outputs), 4) if outputs else None,
    }
    if any(o.questions is not None for o in outputs):
        # What asking the LLM each type of question was worth on this gold set.
        result["questions"] = question_help([o.questions or [] for o in outputs], [i.gold for i in items])
    if isinstance(schema.keys, BrainKeys):
        result["entity_non_tumor"] = entity_key_metrics(
            [_non_tumor_keys(item.gold) for item in items],
            [_non_tumor_keys(p) for p in predictions],
            keys=list(schema.keys.non_tumor),
        ).to_dict()
    if spec.relations:
        pred_pairs = [_pairs(p, schema) for p in predictions]
        report = relation_metrics(gold_pairs, pred_pairs, keys=relation_keys)
        result["relations"] = {
            "per_key": {key: _scores_dict(s) for key, s in report.per_key.items()},
            "macro": _scores_dict(report.macro),
            "micro": _scores_dict(report.micro),
        }
        # Per report: all its gold relations exact, and their mean F1 (None: no gold relation).
        cursor = 0
        exact: list[bool | None] = []
        f1: list[float | None] = []
        wanted = set(relation_keys)
        for gold in gold_pairs:
            count = sum(1 for key in gold if key in wanted)
            mine = report.findings[cursor : cursor + count]
            cursor += count
            exact.append(all(s.exact for s in mine) if mine else None)
            f1.append(fmean(s.f1 for s in mine) if mine else None)
        result["per_report"]["relation_exact"] = exact
        result["per_report"]["relation_f1"] = f1
    return result

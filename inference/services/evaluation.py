"""Evaluate prediction modes against gold labels with the method's metrics.

    result = evaluate_modes(items=[EvalItem(report, gold), ...], modes=["bert", "llm", "llm_hint", "rules"])

A *mode* is a named runner registered with `register_mode`; it turns reports into
gold-shaped predictions (the "gold" object of SPEC.md "Gold files"). Built in:
"bert" (stage 1 keys only: no relations), "llm", "llm_hint" and "rules" (stage 2,
stored as Stage2Prediction rows as a side effect). Other apps add theirs:

    def runner(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]: ...
    register_mode("keyword", runner, relations=False, description="weak-label keywords")

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
from inference.ml.relation_metrics import Scores, brain_pairs, chest_pairs, relation_metrics
from inference.models import Stage2Prediction
from inference.services import stage2
from inference.services.stage2 import ModalitySchema, modality_schema

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


_REGISTRY: dict[str, ModeSpec] = {}


def register_mode(name: str, runner: ModeRunner, *, relations: bool = True, description: str = "") -> None:
    """Make a mode available to evaluate_modes and the `evaluate` command (re-registering
    a name replaces it)."""
    _REGISTRY[name] = ModeSpec(name, runner, relations, description)


def registered_modes() -> dict[str, ModeSpec]:
    return dict(_REGISTRY)


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


# -- built-in modes ------------------------------------------------------------------------


def _stage2_runner(mode: str) -> ModeRunner:
    def run(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]:
        if mode == "llm_hint":
            _stage1_ensure(items, ctx)
        plan = stage2.stage2_plan(
            modality=ctx.modality, mode=mode, backend_for=ctx.options.get("backend_for")
        )
        outputs = []
        for done, item in enumerate(items, start=1):
            prediction = stage2.stage2_predict_report(
                report=item.report, mode=mode, run=plan, timeout=ctx.options.get("timeout")
            )
            ok = prediction.status == Stage2Prediction.Status.OK
            outputs.append(
                ModeOutput(
                    prediction.parsed if ok else None, prediction.seconds, "" if ok else prediction.error
                )
            )
            ctx.tick(mode, done, len(items))
        return outputs

    return run


def _stage1_ensure(items: Sequence[EvalItem], ctx: EvalContext) -> None:
    """Predict, with the active stage 1 model, the reports it has not predicted yet
    (the hint of llm_hint comes from stored predictions). No active model: nothing
    to do, llm_hint then runs without hints."""
    from inference.models import Stage1Prediction
    from inference.services.stage1_inference import predictions_write, predictor_for

    version = stage2.active_stage1_version(ctx.modality)
    if version is None:
        return
    done = set(
        Stage1Prediction.objects.filter(
            model_version=version, report__in=[i.report.pk for i in items]
        ).values_list("report_id", flat=True)
    )
    rows = [(i.report.pk, i.report.text) for i in items if i.report.pk not in done]
    if rows:
        predictions_write(version, predictor_for(version), rows)


def _bert_runner(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]:
    from inference.models import Stage1Prediction

    version = stage2.active_stage1_version(ctx.modality)
    if version is None:
        raise EvaluationError(f"mode bert: no active stage 1 model for {ctx.modality.code}")
    started = time.perf_counter()
    _stage1_ensure(items, ctx)
    per_report = (time.perf_counter() - started) / len(items)
    stored = dict(
        Stage1Prediction.objects.filter(
            model_version=version, report__in=[i.report.pk for i in items]
        ).values_list("report_id", "predicted_keys")
    )
    section = "lesions" if isinstance(ctx.schema.keys, ChestKeys) else "diagnoses"
    non_tumor = set(ctx.schema.keys.non_tumor) if isinstance(ctx.schema.keys, BrainKeys) else set()
    outputs = []
    for item in items:
        keys = stored.get(item.report.pk, [])
        prediction: dict[str, Any] = {
            section: {k: {"status": "present"} for k in keys if k not in non_tumor},
        }
        if non_tumor:
            prediction["non_tumor"] = [k for k in keys if k in non_tumor]
        outputs.append(ModeOutput(prediction, per_report))
    ctx.tick("bert", len(items), len(items))
    return outputs


register_mode("bert", _bert_runner, relations=False, description="Stage 1 BERT entity keys alone")
register_mode("llm", _stage2_runner("llm"), description="LLM without hint")
register_mode("llm_hint", _stage2_runner("llm_hint"), description="LLM with the stage 1 (BERT) hint")
register_mode(
    "rules",
    _stage2_runner("rules"),
    description="Rule-based: same-sentence pairs (the text engine's sentences)",
)

# The rule engine's modes ("keyword", "rules_engine", "combined") register themselves.
from inference.services import combined as _combined_modes  # noqa: E402, F401

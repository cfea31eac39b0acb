"""The built-in evaluation modes, registered from InferenceConfig.ready().

    "bert"           stage 1's stored keys of the active model alone (no relations)
    every stage 2 mode of the stage 2 registry (llm, llm_hint, rules, combined): run
                     through stage2_predict_report, stored with purpose "evaluation"
    "keyword"        the method's weak-label rule: a key is present when a value matches
    "rules_engine"   the rule engine alone (negation-aware, cross-sentence locations)

The registration order is the order evaluation forms and dashboards list them in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from inference.ml.llm.schemas import BrainKeys, ChestKeys
from inference.ml.questions import QuestionPolicy
from inference.ml.text.lexicon import lexicon_values
from inference.ml.text.matcher import Matcher
from inference.models import Stage1Prediction, Stage2Prediction
from inference.selectors import model_version_active
from inference.services.evaluation import (
    EvalContext,
    EvalItem,
    EvaluationError,
    ModeOutput,
    ModeRunner,
    register_mode,
)
from inference.services.stage1_inference import predictions_write, predictor_for
from inference.services.stage2 import stage2_plan, stage2_predict_report
from inference.services.stage2_modes.combined import CombinedPlan, asks_llm, engine_for, with_policy
from inference.services.stage2_modes.registry import stage2_modes
from inference.services.stage2_modes.strategy import Stage2Mode


def register_evaluation_modes() -> None:
    """Register bert, the stage 2 registry's modes, keyword and rules_engine (call after
    the stage 2 modes are registered)."""
    register_mode(
        "bert", _bert_runner, relations=False, description="Stage 1 BERT entity keys alone", label="BERT"
    )
    for mode in stage2_modes().values():
        register_mode(mode.name, stage2_runner(mode), description=mode.description, label=mode.label)
    register_mode(
        "keyword",
        _keyword_runner,
        relations=False,
        description="Keyword presence (the method's weak-label rule)",
        label="Keyword matching",
    )
    register_mode(
        "rules_engine",
        _rules_engine_runner,
        description="Rule engine: negation-aware lexicon, cross-sentence location and episode linking",
        label="Rule engine",
    )


def stage2_runner(mode: Stage2Mode[Any]) -> ModeRunner:
    """The evaluation runner of a stage 2 mode: its plan once, then each report through
    the pipeline's own per-report path, stored as an evaluation row."""

    def run(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]:
        if mode.uses_stage1:
            stage1_ensure(items, ctx)
        plan = stage2_plan(modality=ctx.modality, mode=mode.name, backend_for=ctx.options.get("backend_for"))
        if ctx.options.get("ask_all_questions") and isinstance(plan, CombinedPlan):
            plan = with_policy(plan, QuestionPolicy.everything())
        asking = asks_llm(plan)  # a chest CT combined run: its LLM questions are measured
        outputs = []
        for done, item in enumerate(items, start=1):
            prediction = stage2_predict_report(
                report=item.report,
                mode=mode.name,
                run=plan,
                timeout=ctx.options.get("timeout"),
                purpose=Stage2Prediction.Purpose.EVALUATION,
            )
            ok = prediction.status == Stage2Prediction.Status.OK
            outputs.append(
                ModeOutput(
                    prediction.parsed if ok else None,
                    prediction.seconds,
                    "" if ok else prediction.error,
                    questions=list((prediction.timings or {}).get("questions") or []) if asking else None,
                )
            )
            ctx.tick(mode.name, done, len(items))
        return outputs

    return run


def stage1_ensure(items: Sequence[EvalItem], ctx: EvalContext) -> None:
    """Predict, with the active stage 1 model, the reports it has not predicted yet
    (the hint of llm_hint comes from stored predictions). No active model: nothing
    to do, llm_hint then runs without hints."""
    version = model_version_active(modality=ctx.modality)
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
    version = model_version_active(modality=ctx.modality)
    if version is None:
        raise EvaluationError(f"mode bert: no active stage 1 model for {ctx.modality.code}")
    started = time.perf_counter()
    stage1_ensure(items, ctx)
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


def _keyword_runner(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]:
    """The method's weak-label rule: a key is present when any of its values matches."""
    keys, finding_keys = ctx.schema.keys, ctx.schema.finding_keys
    matcher = Matcher(lexicon_values(ctx.schema.lexicon, keys=finding_keys))
    outputs = []
    for done, item in enumerate(items, start=1):
        started = time.perf_counter()
        found = {str(k) for k in matcher.keys_in(item.report.text)}
        outputs.append(
            ModeOutput(
                _gold_shape(keys, {k: "present" for k in finding_keys if k in found}),
                time.perf_counter() - started,
            )
        )
        ctx.tick("keyword", done, len(items))
    return outputs


def _rules_engine_runner(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]:
    engine = engine_for(ctx.schema)
    outputs = []
    for done, item in enumerate(items, start=1):
        result = engine.extract(item.report.text)
        outputs.append(ModeOutput(result.as_gold(), result.seconds))
        ctx.tick("rules_engine", done, len(items))
    return outputs


def _gold_shape(keys: ChestKeys | BrainKeys, statuses: dict[str, str]) -> dict[str, Any]:
    if isinstance(keys, ChestKeys):
        return {"lesions": {k: {"status": s, "locations": []} for k, s in statuses.items()}}
    non_tumor = set(keys.non_tumor)
    return {
        "diagnoses": {k: {"status": s} for k, s in statuses.items() if k not in non_tumor},
        "non_tumor": [k for k, s in statuses.items() if k in non_tumor and s in ("present", "uncertain")],
    }

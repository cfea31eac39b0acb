"""The rule engine and the combined extractor inside RadReview: built from the
database (schema lexicon, rules), stored as Stage2Prediction rows (mode
"combined"), and registered as evaluation modes "keyword", "rules_engine" and
"combined" (inference.services.evaluation imports this module at its end).

    plan = combined_plan(modality=chest_ct)                  # engine + stage 1 + LLM backend
    prediction = combined_predict_report(report=report, plan=plan)
    # a batch job (stage2_job_work, via stage2_predict_report): per-report deadline,
    # retries on an unreachable server, configuration errors stop the batch
    combined_predict_report(report=report, plan=plan, job=job, timeout=60, retry=policy, strict=True)

Stage 1 probabilities come from the stored Stage1Prediction of the active
model (predicted on demand, as llm_hint does); the LLM from the configured
stage 2 backend, built lazily: a report the rules and stage 1 settle never
loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any

from annotations.models import Modality, Report
from annotations.selectors import site_ruleset
from inference.ml.combined import PROMPT_VERSION, CombinedExtractor, CombinedResult, stage1_key_f1
from inference.ml.engine import RuleEngine
from inference.ml.llm.backends import LLMBackend, LLMConfigError, LLMError, LLMUnavailable
from inference.ml.llm.schemas import BrainKeys, ChestKeys
from inference.ml.text.matcher import Matcher, Value
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from inference.services import stage2
from inference.services.evaluation import EvalContext, EvalItem, EvaluationError, ModeOutput, register_mode
from inference.services.stage2 import ModalitySchema, modality_schema

logger = logging.getLogger(__name__)

BackendFor = Callable[[str], LLMBackend]


def engine_for(schema: ModalitySchema) -> RuleEngine:
    """The rule engine for a modality: chest CT lesions with locations; brain MRI
    diagnoses and non-tumor details (assertions only, no episode linking)."""
    rules = site_ruleset()
    keys = schema.keys
    if isinstance(keys, ChestKeys):
        return RuleEngine(
            schema.lexicon,
            findings=keys.lesions,
            locations=keys.locations,
            implicit=keys.implicit,
            rules=rules,
        )
    return RuleEngine(schema.lexicon, findings=(*keys.diagnoses, *keys.non_tumor), locations=(), rules=rules)


class _PlanBackend:
    """The plan's LLM backend: built on the first call only (a report the rules settle
    never loads the model), given each report's deadline, and keeping the last LLM
    error with its type. The extractor catches LLMError and keeps only the message (the
    finding gets `llm_failed`); a batch job must still tell an unreachable server (retry,
    then fail the report) and a configuration error (stop) from a bad answer."""

    def __init__(self, build: Callable[[], LLMBackend]) -> None:
        self._build = build
        self._backend: LLMBackend | None = None
        self.deadline: float | None = None
        self.error: LLMError | None = None

    def complete_json(self, messages: Any, schema: Any, max_tokens: int, **kwargs: Any) -> Any:
        if self.deadline is not None:
            kwargs.setdefault("deadline", self.deadline)
        try:
            if self._backend is None:
                self._backend = self._build()
            return self._backend.complete_json(messages, schema, max_tokens, **kwargs)
        except LLMError as exc:
            self.error = exc
            raise

    def info(self) -> dict[str, Any]:
        if self._backend is None:
            return {"name": "configured", "backend": "lazy"}
        info: dict[str, Any] = self._backend.info()
        return info


@dataclass
class CombinedPlan:
    modality: Modality
    schema: ModalitySchema
    extractor: CombinedExtractor
    run_key: str
    stage1_version: ModelVersion | None
    llm_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def combined_plan(
    *,
    modality: Modality,
    backend_for: BackendFor | None = None,
    use_llm: bool = True,
    llm_name: str = "configured",
) -> CombinedPlan:
    schema = modality_schema(modality)
    if not isinstance(schema.keys, ChestKeys):
        raise EvaluationError("mode combined: chest CT only (brain MRI has no combined extractor yet)")
    engine = engine_for(schema)
    llm = None
    if use_llm:
        build = backend_for or stage2.stage2_backend.llm_backend
        llm = _PlanBackend(lambda: build("chest_ct_relations"))
    version = stage2.active_stage1_version(modality)
    # Stage 1 is trusted per key on its own measured F1 (held-out gold, else validation).
    quality = stage1_key_f1(version.metrics or {}) if version else None
    extractor = CombinedExtractor(engine, llm=llm, keys=schema.keys, stage1_key_f1=quality)
    s1 = f"s1:{version.pk}" if version else "s1:none"
    run_key = (
        f"combined|{modality.code}|schema{schema.version}|rules:{engine.rules.version}"
        f"|{llm_name}|{PROMPT_VERSION}|{s1}"
    )
    return CombinedPlan(modality, schema, extractor, run_key[:300], version, llm_name if use_llm else "")


def stage1_of(report: Report, version: ModelVersion | None) -> Any | None:
    """The stored stage 1 prediction as the extractor wants it (probs, labels)."""
    if version is None:
        return None
    stored = Stage1Prediction.objects.filter(report=report, model_version=version).first()
    if stored is None:
        return None
    keys = set(stored.predicted_keys)
    return SimpleNamespace(
        probs=dict(stored.probabilities), labels={k: k in keys for k in stored.probabilities}
    )


def combined_predict_report(
    *,
    report: Report,
    plan: CombinedPlan,
    job: Any = None,
    timeout: float | None = None,
    retry: Any = None,
    strict: bool = False,
) -> Stage2Prediction:
    """Extract one report and store it as a Stage2Prediction of mode "combined".

    A failed LLM call normally keeps the rules' answer (flag `llm_failed`). With
    `strict` (batch jobs, as the LLM modes): an unreachable server is retried per
    `retry` (a stage2.RetryPolicy) and then stores the report as failed, a
    configuration error (LLMConfigError) is raised, and any other exception is
    stored as failed instead of stopping the batch. `timeout` bounds the LLM call."""
    guard = plan.extractor.llm if isinstance(plan.extractor.llm, _PlanBackend) else None
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        if guard is not None:
            guard.error = None
            guard.deadline = time.monotonic() + timeout if timeout is not None else None
        try:
            result = plan.extractor.extract(report.text, stage1=stage1_of(report, plan.stage1_version))
        except LLMError as exc:
            return _store(report, plan, job, **_failed(exc, started, attempt))
        except Exception as exc:
            if not strict:
                raise
            logger.exception("combined extraction failed on report %s", report.pk)
            return _store(report, plan, job, **_failed(exc, started, attempt))
        error = guard.error if guard is not None else None
        if strict and isinstance(error, LLMConfigError):
            raise error
        if strict and isinstance(error, LLMUnavailable):
            if retry is not None and attempt <= retry.retries:
                retry.sleep(retry.backoff * 2 ** (attempt - 1))
                continue
            return _store(report, plan, job, **_failed(error, started, attempt, unavailable=True))
        return _store(report, plan, job, **_fields(result), attempts=attempt)


def _fields(result: CombinedResult) -> dict[str, Any]:
    steps = [asdict(step) for step in result.steps]
    findings = []
    for f in result.findings:
        out = asdict(f)
        out["evidence_span"] = list(f.evidence_span) if f.evidence_span else None
        out["episode_evidence_span"] = None
        findings.append(out)
    return {
        "status": Stage2Prediction.Status.OK,
        "messages": steps,
        "raw_output": "\n".join(s["raw"] for s in steps),
        "parsed": result.as_gold(),
        "findings": findings,
        "error": "",
        "hint": None,
        "seconds": result.seconds,
        "prompt_tokens": sum(s["prompt_tokens"] for s in steps),
        "completion_tokens": sum(s["completion_tokens"] for s in steps),
        "timings": {
            "total": round(result.seconds, 3),
            "steps": {s["task"]: round(s["seconds"], 3) for s in steps},
            "llm_reasons": result.llm_reasons,
            "rules_version": result.rules_version,
        },
    }


def _failed(
    exc: BaseException, started: float, attempt: int = 1, *, unavailable: bool = False
) -> dict[str, Any]:
    seconds = time.perf_counter() - started
    # The same prefix as stage 2's LLM modes: the batch counts unreachable reports by it.
    prefix = "LLM server unreachable: " if unavailable else ""
    return {
        "status": Stage2Prediction.Status.FAILED,
        "error": f"{prefix}{type(exc).__name__}: {exc}"[:5000],
        "seconds": seconds,
        "timings": {"total": round(seconds, 3)},
        "messages": [],
        "raw_output": "",
        "parsed": None,
        "findings": [],
        "hint": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "attempts": attempt,
    }


def _store(report: Report, plan: CombinedPlan, job: Any, **fields: Any) -> Stage2Prediction:
    fields.update(
        mode=Stage2Prediction.Mode.COMBINED,
        llm_name=plan.llm_name,
        llm_info=plan.extra.get("llm_info", {}),
        prompt_version=PROMPT_VERSION,
        stage1_version=plan.stage1_version,
        job=job,
    )
    prediction, _ = Stage2Prediction.objects.update_or_create(
        report=report, run_key=plan.run_key, defaults=fields
    )
    return prediction


# -- evaluation modes ------------------------------------------------------------------------


def _keyword_runner(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]:
    """The method's weak-label rule: a key is present when any of its values matches."""
    keys = ctx.schema.keys
    finding_keys = keys.lesions if isinstance(keys, ChestKeys) else (*keys.diagnoses, *keys.non_tumor)
    matcher = Matcher(
        Value(key, text, kind)
        for key, values in ctx.schema.lexicon.items()
        if key in finding_keys
        for text, kind in values
    )
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
        if isinstance(ctx.schema.keys, ChestKeys):
            prediction = result.as_gold()
        else:
            prediction = _gold_shape(ctx.schema.keys, {f.key: f.stage2_status for f in result.findings})
        outputs.append(ModeOutput(prediction, result.seconds))
        ctx.tick("rules_engine", done, len(items))
    return outputs


def _combined_runner(items: Sequence[EvalItem], ctx: EvalContext) -> list[ModeOutput]:
    from inference.services.evaluation import _stage1_ensure

    _stage1_ensure(items, ctx)
    plan = combined_plan(modality=ctx.modality, backend_for=ctx.options.get("backend_for"))
    outputs = []
    for done, item in enumerate(items, start=1):
        prediction = combined_predict_report(report=item.report, plan=plan)
        ok = prediction.status == Stage2Prediction.Status.OK
        outputs.append(ModeOutput(prediction.parsed if ok else None, prediction.seconds, prediction.error))
        ctx.tick("combined", done, len(items))
    return outputs


def _gold_shape(keys: ChestKeys | BrainKeys, statuses: dict[str, str]) -> dict[str, Any]:
    if isinstance(keys, ChestKeys):
        return {"lesions": {k: {"status": s, "locations": []} for k, s in statuses.items()}}
    non_tumor = set(keys.non_tumor)
    return {
        "diagnoses": {k: {"status": s} for k, s in statuses.items() if k not in non_tumor},
        "non_tumor": [k for k, s in statuses.items() if k in non_tumor and s in ("present", "uncertain")],
    }


register_mode(
    "keyword", _keyword_runner, relations=False, description="Keyword presence (the method's weak-label rule)"
)
register_mode(
    "rules_engine",
    _rules_engine_runner,
    description="Rule engine: negation-aware lexicon, cross-sentence location linking",
)
register_mode(
    "combined",
    _combined_runner,
    description="Rule engine + stage 1 where the lexicon is silent + LLM where they disagree",
)

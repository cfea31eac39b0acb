"""The "combined" mode: chest CT, the rule engine, stage 1 where the lexicon is
silent, the LLM only for the findings that need it (inference.ml.combined);
brain MRI, the rule engine's diagnoses and episodes alone (inference.ml.combined_brain).

    plan = combined_plan(modality=chest_ct, backend_for=..., llm_name=...)   # engine + stage 1 + LLM
    stage2_predict_report(report=report, mode="combined", run=plan)        # one report, stored

Stage 1 probabilities come from the stored Stage1Prediction of the active model
(predicted on demand, as llm_hint does); the LLM from the configured stage 2
backend, built when the run is planned (a configuration error stops the request,
as in the LLM modes) but loaded lazily: a report the rules and stage 1 settle
never loads it. Per report: a deadline for the LLM call; a bad LLM answer keeps
the rules' answer (flag `llm_failed`); an unreachable server and a configuration
error are raised for the common code to retry, or to stop the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any

from annotations.models import Modality, Report
from annotations.selectors import site_ruleset
from inference.ml.combined import PROMPT_VERSION, CombinedExtractor, CombinedResult, stage1_key_quality
from inference.ml.combined_brain import PROMPT_VERSION_BRAIN, BrainCombinedExtractor
from inference.ml.engine import RuleEngine
from inference.ml.llm.backends import LLMBackend, LLMConfigError, LLMError, LLMUnavailable
from inference.ml.llm.schemas import BrainKeys, ChestKeys
from inference.ml.questions import QuestionPolicy
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from inference.selectors import model_version_active
from inference.services.questions import question_policy
from inference.services.stage2_modes.schema import TASKS, ModalitySchema, Stage2Error, modality_schema
from inference.services.stage2_modes.strategy import BackendFor, Stage2Mode, Stage2Plan, StoredFields

COMBINED_MODALITIES = ("chest_ct", "brain_mri")
COMBINED_CHEST_ONLY = "The combined mode is for chest CT and brain MRI reports."


def engine_for(schema: ModalitySchema) -> RuleEngine:
    """The rule engine for a modality: chest CT lesions with locations; brain MRI
    diagnoses and non-tumor details with assertions, malignant ones with their episode."""
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
    return RuleEngine.for_brain_mri(schema.lexicon, keys=keys, rules=rules)


def modality_engine(modality: Modality) -> RuleEngine:
    """The rule engine of a modality from its current schema and the site's rules: what
    weak labelling's "rule_engine" mode runs (registered in InferenceConfig.ready())."""
    return engine_for(modality_schema(modality))


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


@dataclass(slots=True)
class CombinedPlan(Stage2Plan):
    extractor: CombinedExtractor | BrainCombinedExtractor | None = None


_UNREAD: Any = object()  # predict() without prefetched inputs: it reads its own


class CombinedMode(Stage2Mode[CombinedPlan]):
    name = "combined"
    label = "Combined (rules + LLM)"
    no_prompt_note = "No LLM call: the rule engine and stage 1 settled this report."
    description = (
        "Combined: rule engine, stage 1 where the lexicon is silent, LLM only where needed (chest CT)"
    )
    pipeline = True
    uses_stage1 = True
    modalities = COMBINED_MODALITIES
    refusal_message = COMBINED_CHEST_ONLY

    def plan(self, modality: Modality, *, backend_for: BackendFor) -> CombinedPlan:
        """The backend is built now (a configuration error stops the request, as in the
        LLM modes) but not loaded: the plan's lazy backend first calls it for a report
        the rules do not settle. A policy that asks no question needs no LLM, so a
        site without one (or before `llm_install`) runs the mode all the same; the
        configuration error then waits for a question that is never asked.
        Brain MRI: the rule engine alone (combined_brain.py)."""
        if modality.code == "brain_mri":
            return brain_combined_plan(modality=modality)
        policy = question_policy()
        try:
            backend = backend_for(TASKS["chest_ct"])
        except LLMConfigError as exc:
            if policy.asked:
                raise
            return combined_plan(
                modality=modality, backend_for=_raiser(exc), llm_name=NO_LLM, llm_info={}, policy=policy
            )
        info = backend.info()
        llm_name = str(info.get("name", ""))[:150]
        return combined_plan(
            modality=modality,
            backend_for=lambda template: backend,
            llm_name=llm_name,
            llm_info=info,
            policy=policy,
        )

    def prefetch(self, reports: Sequence[Report], plan: CombinedPlan) -> dict[int, Any]:
        """The reports' stored stage 1 predictions of the plan's version, in one query."""
        return stage1_of_many([r.pk for r in reports], plan.stage1_version)

    def predict(
        self,
        report: Report,
        plan: CombinedPlan,
        *,
        hint: list[str] | None,
        limit: float,
        inputs: Any = _UNREAD,
    ) -> StoredFields:
        """The extractor keeps only the message of an LLM error (the finding gets
        `llm_failed`, the rules' answer stands); the plan's backend kept the error
        itself, so an unreachable server or a configuration error is raised here
        as in the LLM modes. `limit` bounds the LLM call. `inputs`: the report's
        stage 1 prediction as `prefetch` read it (else read here)."""
        assert plan.extractor is not None
        guard = plan.extractor.llm if isinstance(plan.extractor.llm, _PlanBackend) else None
        if guard is not None:
            guard.error = None
            guard.deadline = time.monotonic() + limit
        stage1 = stage1_of(report, plan.stage1_version) if inputs is _UNREAD else inputs
        result = plan.extractor.extract(report.text, stage1=stage1)
        error = guard.error if guard is not None else None
        if isinstance(error, LLMConfigError | LLMUnavailable):
            raise error
        return _fields(result)


NO_LLM = "no LLM configured"  # the run key's LLM part when the policy never needs one


def _raiser(exc: LLMConfigError) -> BackendFor:
    def backend_for(template: str) -> LLMBackend:
        raise exc

    return backend_for


def combined_plan(
    *,
    modality: Modality,
    backend_for: BackendFor,
    llm_name: str = "configured",
    llm_info: dict[str, Any] | None = None,
    policy: QuestionPolicy | None = None,
) -> CombinedPlan:
    """The combined extractor's run for `modality`: rule engine from the site's rules,
    stage 1 trusted per key on its measured F1, the LLM from `backend_for` (called
    on the first question the policy asks), the site's question policy unless
    `policy` is given (an evaluation asking every type)."""
    schema = modality_schema(modality)
    if not isinstance(schema.keys, ChestKeys):
        raise Stage2Error(COMBINED_CHEST_ONLY)
    engine = engine_for(schema)
    llm = _PlanBackend(lambda: backend_for("chest_ct_relations"))
    version = model_version_active(modality=modality)
    # Stage 1 is trusted per key on its own measured F1 and precision (held-out gold, else
    # gold validation); a version without stored metrics is trusted on no key.
    quality = stage1_key_quality(version.metrics or {}) if version else None
    policy = policy or question_policy()
    extractor = CombinedExtractor(engine, llm=llm, keys=schema.keys, stage1_key_f1=quality, policy=policy)
    s1 = f"s1:{version.pk}" if version else "s1:none"
    run_key = (
        f"combined|{modality.code}|schema{schema.version}|rules:{engine.rules.version}"
        f"|{llm_name}|{PROMPT_VERSION}|{policy.key()}|{s1}"
    )
    return CombinedPlan(
        "combined",
        modality,
        schema,
        run_key=run_key[:300],
        llm_name=llm_name,
        llm_info=dict(llm_info or {}),
        prompt_version=PROMPT_VERSION,
        stage1_version=version,
        extractor=extractor,
    )


def asks_llm(plan: Any) -> bool:
    """Whether a plan is a chest CT combined run (the one that may ask the LLM questions)."""
    return isinstance(plan, CombinedPlan) and isinstance(plan.extractor, CombinedExtractor)


def with_policy(plan: CombinedPlan, policy: QuestionPolicy) -> CombinedPlan:
    """The same run asking `policy`'s questions (its own run key: its predictions are others)."""
    if not isinstance(plan.extractor, CombinedExtractor):
        return plan
    old = plan.extractor.policy.key()
    plan.extractor.policy = policy
    plan.run_key = plan.run_key.replace(f"|{old}|", f"|{policy.key()}|")[:300]
    return plan


def brain_combined_plan(*, modality: Modality) -> CombinedPlan:
    """Brain MRI: diagnoses, details and episodes from the rule engine; no LLM."""
    schema = modality_schema(modality)
    engine = engine_for(schema)
    assert isinstance(schema.keys, BrainKeys)
    extractor = BrainCombinedExtractor(engine, keys=schema.keys)
    run_key = (
        f"combined|{modality.code}|schema{schema.version}|rules:{engine.rules.version}|{PROMPT_VERSION_BRAIN}"
    )
    return CombinedPlan(
        "combined",
        modality,
        schema,
        run_key=run_key[:300],
        llm_name="none",
        llm_info={},
        prompt_version=PROMPT_VERSION_BRAIN,
        stage1_version=None,
        extractor=extractor,
    )


def stage1_of(report: Report, version: ModelVersion | None) -> Any | None:
    """The stored stage 1 prediction as the extractor wants it (probs, labels)."""
    if version is None:
        return None
    stored = Stage1Prediction.objects.filter(report=report, model_version=version).first()
    if stored is None:
        return None
    return _stage1_input(stored.probabilities, stored.predicted_keys)


def stage1_of_many(report_ids: Sequence[int], version: ModelVersion | None) -> dict[int, Any | None]:
    """stage1_of for many reports in one query (none without a version): report id ->
    its prediction as the extractor wants it, None for a report stage 1 has not predicted."""
    out: dict[int, Any | None] = dict.fromkeys(report_ids)
    if version is None or not report_ids:
        return out
    rows = Stage1Prediction.objects.filter(report_id__in=report_ids, model_version=version)
    for report_id, probs, predicted in rows.values_list("report_id", "probabilities", "predicted_keys"):
        out[report_id] = _stage1_input(probs, predicted)
    return out


def _stage1_input(probabilities: dict[str, float], predicted_keys: list[str]) -> SimpleNamespace:
    keys = set(predicted_keys)
    return SimpleNamespace(probs=dict(probabilities), labels={k: k in keys for k in probabilities})


def _fields(result: CombinedResult) -> dict[str, Any]:
    steps = [asdict(step) for step in result.steps]
    findings = []
    for f in result.findings:
        out = asdict(f)
        out["evidence_span"] = list(f.evidence_span) if f.evidence_span else None
        span = f.episode_evidence_span
        out["episode_evidence_span"] = list(span) if span else None
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
            "steps": _step_seconds(steps),
            "llm_reasons": result.llm_reasons,
            "questions": [q.as_dict() for q in result.questions],
            "rules_version": result.rules_version,
        },
    }


def _step_seconds(steps: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per kind of step (one call per question: several may share a kind)."""
    out: dict[str, float] = {}
    for s in steps:
        out[s["task"]] = round(out.get(s["task"], 0.0) + s["seconds"], 3)
    return out

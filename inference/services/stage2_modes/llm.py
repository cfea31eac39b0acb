"""The LLM modes: "llm" (no hint) and "llm_hint" (stage 1's stored keys of the active
model as the "### Target ...:" line; no hint when the model has not predicted the
report). One strategy, parameterised by the hint.

The run key names the mode, modality, schema version, LLM, prompt version and (with
the hint) the stage 1 version, so a changed configuration starts new rows.
Per report: every LLM step within the report's limit; an output that fails
validation is a failed report with its raw output; an unreachable server and a
configuration error (no model file, no server URL) are raised for the common code
to retry, or to stop the batch.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from annotations.models import Modality, Report
from annotations.selectors import site_detector, site_ruleset
from inference.ml.llm.backends import LLMBackend
from inference.ml.llm.mapping import BrainMriMapper, ChestCtMapper, Finding, MappingResult
from inference.ml.llm.schemas import ChestKeys
from inference.models import Stage1Prediction, Stage2Prediction
from inference.selectors import model_version_active
from inference.services.stage2_modes.schema import ModalitySchema, modality_schema
from inference.services.stage2_modes.strategy import BackendFor, Stage2Mode, Stage2Plan, StoredFields

Mapper = ChestCtMapper | BrainMriMapper


@dataclass(slots=True)
class LLMPlan(Stage2Plan):
    mapper: Mapper | None = None


class LLMMode(Stage2Mode[LLMPlan]):
    pipeline = True
    concurrent = True  # predict is the mapper alone: no database, no state across reports

    def __init__(self, *, hint: bool) -> None:
        self.with_hint = hint
        self.uses_stage1 = hint
        self.wants_hint = hint
        if hint:
            self.name = "llm_hint"
            self.label = "LLM with BERT hint"
            self.description = "LLM with the stage 1 (BERT) hint (the method's best)"
        else:
            self.name = "llm"
            self.label = "LLM without hint"
            self.description = "LLM without hint"

    def plan(self, modality: Modality, *, backend_for: BackendFor) -> LLMPlan:
        schema = modality_schema(modality)
        base = f"{self.name}|{modality.code}|schema{schema.version}"
        mapper = _mapper(schema, backend_for, modality)
        info = _first_backend(mapper).info()
        stage1 = model_version_active(modality=modality) if self.with_hint else None
        s1 = f"s1:{stage1.pk}" if stage1 else "s1:none"
        llm_name = str(info.get("name", ""))[:150]
        run_key = f"{base}|{llm_name}|{mapper.prompt_version}" + (f"|{s1}" if self.with_hint else "")
        return LLMPlan(
            self.name,
            modality,
            schema,
            run_key=run_key[:300],
            llm_name=llm_name,
            llm_info=info,
            prompt_version=mapper.prompt_version,
            stage1_version=stage1,
            mapper=mapper,
        )

    def hint(self, report: Report, plan: LLMPlan) -> list[str] | None:
        return stage1_hint(report, plan)

    def predict(self, report: Report, plan: LLMPlan, *, hint: list[str] | None, limit: float) -> StoredFields:
        assert plan.mapper is not None
        result = plan.mapper.map(report.text, hint=hint, deadline=time.monotonic() + limit)
        fields = _result_fields(result)
        if result.ok and result.seconds > limit:
            fields |= {"status": Stage2Prediction.Status.FAILED, "error": _timeout_message(limit)}
        return fields


def _mapper(schema: ModalitySchema, backend_for: BackendFor, modality: Modality) -> Mapper:
    lexicon = schema.lexicon or None
    detector = site_detector(modality=modality)
    if isinstance(schema.keys, ChestKeys):
        return ChestCtMapper(
            backend_for(ChestCtMapper.template_name),
            keys=schema.keys,
            lexicon=lexicon,
            detector=detector,
            # The site rules' location tree, read once per plan (LABELLING.md section 4).
            tree=site_ruleset(modality=modality).location_tree,
        )
    backends = {name: backend_for(name) for name in BrainMriMapper.templates}
    return BrainMriMapper(backends, keys=schema.keys, lexicon=lexicon, detector=detector)


def _first_backend(mapper: Mapper) -> LLMBackend:
    if isinstance(mapper, ChestCtMapper):
        return mapper.step.backend
    return mapper.steps[mapper.templates[0]].backend


def stage1_hint(report: Report, run: LLMPlan) -> list[str] | None:
    """Stage 1's keys for the report (finding keys only), or None when the active
    model has not predicted it (the LLM then runs without a hint)."""
    if run.stage1_version is None:  # llm, or llm_hint without an active model
        return None
    stored = Stage1Prediction.objects.filter(report=report, model_version=run.stage1_version).first()
    if stored is None:
        return None
    wanted = set(stored.predicted_keys)
    return [k for k in run.schema.finding_keys if k in wanted]


def _timeout_message(limit: float) -> str:
    return f"timed out: the report took longer than its limit of {limit:g}s"


def _result_fields(result: MappingResult) -> dict[str, Any]:
    steps = [asdict(step) for step in result.steps]
    raw = (
        result.steps[0].raw
        if len(result.steps) == 1
        else "\n".join(f"# {s['task']}\n{s['raw']}" for s in steps)
    )
    error = result.error or ""
    if "per-report time limit" in error:
        error = "timed out: " + error
    return {
        "status": Stage2Prediction.Status.OK if result.ok else Stage2Prediction.Status.FAILED,
        "messages": steps,
        "raw_output": raw,
        "parsed": result.as_gold() if result.ok else None,
        "findings": [_finding_out(f) for f in result.findings] if result.ok else [],
        "rejected": list(result.rejected) if result.ok else [],
        "error": error,
        "hint": result.hint,
        "seconds": result.seconds,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "timings": {
            "total": round(result.seconds, 3),
            "steps": {s["task"]: round(s["seconds"], 3) for s in steps},
        },
    }


def _finding_out(finding: Finding) -> dict[str, Any]:
    out = asdict(finding)
    for name in ("evidence_span", "episode_evidence_span"):
        out[name] = list(out[name]) if out[name] is not None else None
    return out

"""The interface every stage 2 mode implements, and the plan of a run.

A mode is a strategy: the common code (inference.services.stage2: store, cohort,
batch job, retries; inference.services.evaluation_modes: evaluation) asks the
registered mode for

* its name, label and description (forms, API, evaluation tables, the DB enum);
* which modalities it serves, and why it refuses the others (`refusal`);
* whether it is a pipeline mode: whether its predictions may stand for a report
  (inference.selectors); the same-sentence baseline is not;
* whether it reads stage 1's stored predictions (an evaluation predicts them first);
* its plan for a modality (`plan`): the run key and everything a report needs;
* the stage 1 hint it shows the model for a report (`hint`; stored with the row);
* its per-report prediction (`predict`): the Stage2Prediction fields to store;
* what its predictions read from the database, for a group of reports at once
  (`prefetch`: a batch then makes one query per group, not one per report).

The common code never asks which mode it runs; a mode never stores a row, nor
retries: it raises LLMUnavailable for the common code to retry (and then store
the report failed), LLMConfigError to stop, anything else to have the report
stored failed with the error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from annotations.models import Modality, Report
from inference.ml.llm.backends import LLMBackend
from inference.models import ModelVersion
from inference.services.stage2_modes.schema import ModalitySchema

BackendFor = Callable[[str], LLMBackend]  # prompt template name -> the backend that answers it
# Stage2Prediction field name -> value: status, findings, parsed, messages, error, timings, ...
StoredFields = dict[str, Any]


@dataclass(slots=True)
class Stage2Plan:
    """A resolved run of one mode on one modality; everything its run key names.
    Modes subclass it with what their reports need (a mapper, a matcher, an extractor)."""

    mode: str
    modality: Modality
    schema: ModalitySchema
    run_key: str
    llm_name: str = ""
    llm_info: dict[str, Any] = field(default_factory=dict)
    prompt_version: str = ""
    stage1_version: ModelVersion | None = None


PlanT = TypeVar("PlanT", bound=Stage2Plan)


class Stage2Mode(ABC, Generic[PlanT]):
    name: str
    label: str  # short: evaluation tables, charts, the provenance panel
    description: str  # one sentence: the run form, `evaluate --list-modes`
    pipeline: bool  # True: its OK predictions may stand for a report
    uses_stage1: bool = False  # reads stored stage 1 predictions of the active model
    # Shows the LLM stage 1's keys as a hint: a run over reports stage 1 has not predicted
    # needs the admin's confirmation (stage2_job_create).
    wants_hint: bool = False
    modalities: tuple[str, ...] = ()  # the modality codes it serves; empty: every one
    # True when `predict` touches no database and keeps no state of its own between
    # calls, so a batch may run several reports at once on a server backend.
    concurrent: bool = False
    refusal_message: str = ""
    # What the provenance panel says of a stored prediction that holds no prompt.
    no_prompt_note: str = "No prompt stored: the report failed before the LLM was asked."

    def refusal(self, modality: Modality) -> str | None:
        """Why this mode cannot map `modality`'s reports, or None (form, API and plan share it)."""
        if self.modalities and modality.code not in self.modalities:
            return self.refusal_message or f"mode {self.name} does not serve {modality.code}"
        return None

    @abstractmethod
    def plan(self, modality: Modality, *, backend_for: BackendFor) -> PlanT:
        """Resolve a run. A mode that needs the LLM builds (not loads) its backend here,
        so a configuration problem raises LLMConfigError before any work."""

    def hint(self, report: Report, plan: PlanT) -> list[str] | None:
        """The stage 1 keys shown to the model for `report` (None: no hint)."""
        return None

    def prefetch(self, reports: Sequence[Report], plan: PlanT) -> dict[int, Any]:
        """What `predict` would read from the database for each of `reports`, read for
        them all at once: report id -> that report's inputs, which a batch hands to
        `predict` as `inputs=` (a report missing from the mapping: `predict` reads its
        own, and is called without `inputs`). Empty by default: nothing to read."""
        return {}

    @abstractmethod
    def predict(self, report: Report, plan: PlanT, *, hint: list[str] | None, limit: float) -> StoredFields:
        """Map one report within `limit` seconds. A model output that fails validation
        or a passed time limit is returned as status "failed" fields (with the raw
        output); an unreachable server raises LLMUnavailable, a configuration error
        LLMConfigError. A mode with a `prefetch` also takes `inputs=` (its prefetched
        inputs for the report)."""

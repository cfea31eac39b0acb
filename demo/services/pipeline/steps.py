"""The pipeline's steps, as data: one row per phase, in the order they run. A
per-modality phase expands to one step per modality ("train_chest_ct" labelled
"stage 1 training (chest_ct)"); all of a phase's steps run before the next phase.
Names are the keys of params["steps"], labels what the runs page and `--status`
show: a stored pipeline is read back with the same table, so both stay stable."""

from __future__ import annotations

from dataclasses import dataclass

from demo.services.pipeline import evaluation, review, stage1, stage2
from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.step import Step, StepRun
from jobs.models import Job


@dataclass(frozen=True)
class Phase:
    name: str
    label: str  # may name the stage 2 mode: "{stage2_mode}"
    kind: str
    run: StepRun
    per_modality: bool


# The review queue first: the combined extractor needs no model training, so a
# clinician has AI findings to verify minutes after the server answers; the slower
# steps (training, stage 1, the evaluation with the LLM-only modes) follow behind.
PHASES = (
    Phase("stage2", "stage 2 {stage2_mode}", Job.Kind.INFER, stage2.predict, per_modality=True),
    Phase("review_sync", "review queue", Job.Kind.OTHER, review.sync, per_modality=False),
    Phase("train", "stage 1 training", Job.Kind.TRAIN, stage1.train, per_modality=True),
    Phase("promote", "promotion", Job.Kind.OTHER, stage1.promote, per_modality=True),
    Phase("stage1_infer", "stage 1 inference", Job.Kind.INFER, stage1.infer, per_modality=False),
    Phase("evaluate", "evaluation", Job.Kind.EVALUATE, evaluation.evaluate, per_modality=True),
)


def demo_steps(options: DemoOptions) -> list[Step]:
    """The steps a pipeline with these options runs, in order."""
    steps: list[Step] = []
    for phase in PHASES:
        label = phase.label.format(stage2_mode=options.stage2_mode)
        if not phase.per_modality:
            steps.append(Step(phase.name, label, phase.kind, phase.run))
            continue
        for code in options.modalities:
            steps.append(Step(f"{phase.name}_{code}", f"{label} ({code})", phase.kind, phase.run, code))
    return steps

"""A pipeline's state as text lines (`manage.py demo_pipeline --status`): the
orchestrator's status and message, then one line per step of its options, read
back from the step jobs it recorded."""

from __future__ import annotations

from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.steps import demo_steps
from jobs.models import Job

LABEL_WIDTH = 32


def pipeline_status_lines(*, job: Job) -> list[str]:
    """The orchestrator's line, its error if any, and each step's job, status and time."""
    lines = [f"job #{job.pk} {job.status}: {job.progress_message}"]
    if job.error:
        lines.append(f"  error: {job.error}")
    recorded = job.params.get("steps", {})
    rows = Job.objects.in_bulk(list(recorded.values()))
    for step in demo_steps(DemoOptions.from_params(job.params.get("options", {}))):
        row = rows.get(recorded.get(step.name))
        lines.append(f"  {step.label:<{LABEL_WIDTH}} {_step_state(row)}")
    return lines


def _step_state(row: Job | None) -> str:
    if row is None:
        return "not started"
    took = ""
    if row.started_at and row.finished_at:
        took = f" in {(row.finished_at - row.started_at).total_seconds():.0f} s"
    return f"job #{row.pk} {row.status}{took} {row.error[:200]}"

"""A pipeline step as data: its name (the key of its job in the pipeline's params),
the label the runs page and `--status` show, the kind of its Job row, and the small
function that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User

from demo.services.pipeline.options import DemoOptions
from jobs.models import Job


class StepFailed(Exception):
    """A step's job did not succeed; the message says which and why."""


# (the orchestrating job, the step, the pipeline's options, the user the jobs run as)
# -> a JSON-safe summary for the orchestrator's result.
StepRun = Callable[[Job, "Step", DemoOptions, User | None], dict[str, Any]]


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    kind: str
    run: StepRun
    modality: str = ""  # "" for a step over every modality

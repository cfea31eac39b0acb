"""Which Celery queue a job goes to: interactive work (imports, a stage 1 or stage 2
run over a handful of reports, the worker self-test) never waits behind heavy work
(training, cohort batches, weak labelling, evaluations, the demo pipeline). Exports
are not jobs: they stream from the request.

Each queue has its own worker process (scripts/run.sh starts both on the embedded
default; docs/decisions.md "Issue 16: two queues"), so a five-row import starts while
a training runs. The queue is chosen when the job is enqueued and stored on the
row, so a re-sent job goes back to the same queue.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

INTERACTIVE = "interactive"
HEAVY = "heavy"
QUEUES = (INTERACTIVE, HEAVY)

# A stage 2 or inference run over at most this many reports is interactive work.
INTERACTIVE_MAX_REPORTS = 20
_INTERACTIVE_KINDS = {"import"}
_INTERACTIVE_TASKS = {"jobs.selftest"}


def queue_for(*, kind: str, params: dict[str, Any] | None, task_name: str = "") -> str:
    """The queue for a job of `kind` (a Job.Kind value) with `params`, run by `task_name`."""
    params = params or {}
    if kind in _INTERACTIVE_KINDS or task_name in _INTERACTIVE_TASKS:
        return INTERACTIVE
    if kind == "infer":
        planned = params.get("planned_reports")
        if planned is None:
            planned = len(params.get("report_ids") or ()) or None
        if planned is not None and int(planned) <= INTERACTIVE_MAX_REPORTS:
            return INTERACTIVE
    return HEAVY


def queue_name(queue: str) -> str:
    """The broker's name of a queue: JOBS_QUEUE_PREFIX keeps a test run's worker (or a
    second deployment on one broker) on queues of its own."""
    return f"{getattr(settings, 'JOBS_QUEUE_PREFIX', '')}{queue}"

"""The demo pipeline: after `demo_setup`, give every role real work by running the
jobs a site would run, in order, on the demo corpus.

    job, created = demo_pipeline_start(options=DemoOptions())   # the management command
    demo_pipeline_task(job.id)                                   # the worker

Steps (each its own Job row, so the runs page shows progress and failures):
    1. train a stage 1 model per modality (small preset, gold labels)
    2. promote it as the active version ("demo bootstrap", by the demo admin)
    3. stage 1 inference over every report of both modalities
    4. stage 2 (llm_hint by default) on a few dozen reports per modality, preferring
       reports nobody labelled so clinicians verify fresh ones
    5. review sync: those reports' predictions become review findings
    6. an evaluation run per modality on the held-out gold set

One orchestrating job (kind "other", params["demo_pipeline"]) runs the steps one
after another inside its worker, calling the very Celery tasks a site enqueues
(synchronously: a solo worker cannot wait for a message it would have to run
itself). The evaluation runs are enqueued as their own messages at the end.

Idempotent and resumable: starting again while a pipeline is queued, running or
succeeded does nothing; the orchestrator records each step's job id in its params,
so a redelivered orchestrator skips succeeded steps and resumes a running one (the
step services are themselves resumable). A modality that already has an active
model keeps it (no retraining). When a step fails, every later step gets a failed
Job row whose error names the step that failed and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import transaction

from jobs.models import Job
from jobs.services import job_create, job_enqueue, job_fail, job_log, job_progress, job_run

PIPELINE_FLAG = "demo_pipeline"
MODALITIES = ("chest_ct", "brain_mri")
DEMO_ADMIN = "admin"
PROMOTION_REASON = "demo bootstrap"
ACTIVE_STATUSES = (Job.Status.QUEUED, Job.Status.RUNNING, Job.Status.SUCCEEDED)
SYNC_CHUNK = 10


class StepFailed(Exception):
    """A step's job did not succeed; the message says which and why."""


@dataclass(frozen=True)
class DemoOptions:
    """What the pipeline runs. The defaults suit a 2-core laptop: the small stage 1
    preset trains in minutes on the demo corpus, and stage 2 on 30 reports with the
    0.5B LLM preset takes a few minutes more."""

    preset: str = "small"
    label_sources: str = "gold"
    # The demo has ~300 training reports per modality: the service's default of 8
    # epochs left chest CT at held-out macro F1 0.33; 25 reached 0.50 in 196 s
    # on a quiet 2-core machine (measured 2026-11-28).
    epochs: int | None = 25
    max_steps: int = 0  # 0: no cap (tests cap it)
    stage2_mode: str = "llm_hint"
    stage2_reports: int = 30  # over both modalities
    eval_modes: tuple[str, ...] = ("bert", "rules")
    modalities: tuple[str, ...] = MODALITIES

    def to_params(self) -> dict[str, Any]:
        params = asdict(self)
        params["eval_modes"] = list(self.eval_modes)
        params["modalities"] = list(self.modalities)
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DemoOptions:
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        for name in ("eval_modes", "modalities"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    kind: str
    run: Callable[[Job, Step, DemoOptions, Any], dict[str, Any]]
    modality: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# -- starting ---------------------------------------------------------------------------------


def demo_admin() -> Any:
    """The demo admin (demo_setup's "admin"), else the first superuser, else None."""
    User = get_user_model()
    return (
        User.objects.filter(username=DEMO_ADMIN).first()
        or User.objects.filter(is_superuser=True).order_by("pk").first()
    )


def demo_pipeline_current() -> Job | None:
    """The latest pipeline job, whatever its status."""
    return Job.objects.filter(**{f"params__{PIPELINE_FLAG}": True}).order_by("-created_at", "-pk").first()


def demo_pipeline_start(*, options: DemoOptions | None = None, user: Any = None) -> tuple[Job, bool]:
    """Enqueue the pipeline unless one is queued, running or done. Returns the job
    and whether it was created now. A failed or cancelled one is started afresh
    (its finished steps' results, e.g. an active model, are kept)."""
    options = options or DemoOptions()
    with transaction.atomic():
        current = demo_pipeline_current()
        if current is not None and current.status in ACTIVE_STATUSES:
            return current, False
        user = user or demo_admin()
        job = job_create(
            kind=Job.Kind.OTHER,
            title="Demo pipeline: train, promote, predict, review, evaluate",
            params={PIPELINE_FLAG: True, "options": options.to_params(), "steps": {}},
            user=user,
        )
        job_enqueue(job=job, task=demo_pipeline_task)
    return job, True


@shared_task(name="analytics.demo_pipeline")
def demo_pipeline_task(job_id: int) -> None:
    """Run the demo pipeline's steps (see the module docstring)."""
    job_run(job_id=job_id, work=demo_pipeline_work)


# -- the orchestrator ------------------------------------------------------------------------


def demo_steps(options: DemoOptions) -> list[Step]:
    steps: list[Step] = []
    for code in options.modalities:
        steps.append(Step(f"train_{code}", f"stage 1 training ({code})", Job.Kind.TRAIN, _train, code))
    for code in options.modalities:
        steps.append(Step(f"promote_{code}", f"promotion ({code})", Job.Kind.OTHER, _promote, code))
    steps.append(Step("stage1_infer", "stage 1 inference", Job.Kind.INFER, _stage1_infer))
    for code in options.modalities:
        steps.append(
            Step(f"stage2_{code}", f"stage 2 {options.stage2_mode} ({code})", Job.Kind.INFER, _stage2, code)
        )
    steps.append(Step("review_sync", "review queue", Job.Kind.OTHER, _review_sync))
    for code in options.modalities:
        steps.append(Step(f"evaluate_{code}", f"evaluation ({code})", Job.Kind.EVALUATE, _evaluate, code))
    return steps


def demo_pipeline_work(job: Job) -> dict[str, Any]:
    options = DemoOptions.from_params(job.params.get("options", {}))
    steps = demo_steps(options)
    user = job.created_by or demo_admin()
    outcome: dict[str, Any] = {}
    for number, step in enumerate(steps, start=1):
        job_progress(
            job_id=job.pk,
            done=number - 1,
            total=len(steps),
            message=f"step {number}/{len(steps)}: {step.label}",
        )
        try:
            outcome[step.name] = step.run(job, step, options, user)
        except Exception as exc:
            reason = f"{step.label} failed: {exc}"
            job_log(job_id=job.pk, line=reason)
            if _recorded(job, step.name) is None:  # refused before its job existed: a row says why
                _failed_row(job, step, str(exc))
            for later in steps[number:]:
                if _recorded(job, later.name) is None:
                    _failed_row(job, later, f"not run: {reason}")
            raise StepFailed(reason) from exc
        job_log(job_id=job.pk, line=f"{step.label}: {_summary(outcome[step.name])}")
    return outcome


def _summary(result: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in result.items() if not isinstance(v, dict | list))[:300]


def _recorded(job: Job, name: str) -> Job | None:
    """The step's job recorded by this pipeline (a resumed orchestrator reuses it)."""
    job.refresh_from_db(fields=["params"])
    step_id = job.params.get("steps", {}).get(name)
    return Job.objects.filter(pk=step_id).first() if step_id else None


def _record(job: Job, name: str, step_job: Job) -> None:
    with transaction.atomic():
        row = Job.objects.select_for_update().get(pk=job.pk)
        row.params.setdefault("steps", {})[name] = step_job.pk
        Job.objects.filter(pk=job.pk).update(params=row.params)
    job.params = row.params


def _run_step(job: Job, name: str, create: Callable[[], Job], run: Callable[[int], None]) -> Job:
    """Create the step's job once (recorded in the pipeline), run it in this worker
    unless it already finished, and insist that it succeeded."""
    step_job = _recorded(job, name)
    if step_job is None:
        step_job = create()
        _record(job, name, step_job)
    if not step_job.is_finished:
        run(step_job.pk)
        step_job.refresh_from_db()
    if step_job.status != Job.Status.SUCCEEDED:
        why = step_job.error or step_job.get_status_display().lower()
        raise StepFailed(f"job #{step_job.pk} {step_job.get_status_display().lower()}: {why}")
    return step_job


def _failed_row(job: Job, step: Step, error: str) -> None:
    """A failed Job row for a step that never ran, saying why (the runs page shows it)."""
    row = job_create(
        kind=step.kind, title=f"Demo: {step.label}", params={"demo_step": step.name}, user=job.created_by
    )
    job_fail(job_id=row.pk, error=error)
    _record(job, step.name, row)


# -- the steps ---------------------------------------------------------------------------------


def _active_version(code: str) -> Any:
    from inference.models import ModelVersion

    return ModelVersion.objects.filter(modality__code=code, is_active=True).first()


def _train(job: Job, step: Step, options: DemoOptions, user: Any) -> dict[str, Any]:
    from inference.services.stage1 import training_job_create
    from inference.tasks.stage1 import stage1_train_task

    if _recorded(job, step.name) is None and (active := _active_version(step.modality)) is not None:
        return {"skipped": f"{active.name} is already active"}

    def create() -> Job:
        created, _ = training_job_create(
            modality=step.modality,
            preset=options.preset,
            label_sources=options.label_sources,
            epochs=options.epochs,
            max_steps=options.max_steps,
            user=user,
        )
        return created

    step_job = _run_step(job, step.name, create, stage1_train_task)
    return {"job": step_job.pk, **{k: step_job.result.get(k) for k in ("name", "heldout_macro_f1")}}


def _promote(job: Job, step: Step, options: DemoOptions, user: Any) -> dict[str, Any]:
    from inference.models import ModelVersion

    train_job = _recorded(job, f"train_{step.modality}")
    if train_job is None:  # training was skipped: a version is already active
        active = _active_version(step.modality)
        return {"skipped": f"{active.name if active else 'nothing'} is active"}
    version = ModelVersion.objects.get(pk=train_job.params["model_version_id"])

    def create() -> Job:
        return job_create(
            kind=Job.Kind.OTHER,
            title=f"Demo: promote {version.name} as the active {step.modality} model",
            params={"demo_step": step.name, "model_version_id": version.pk, "reason": PROMOTION_REASON},
            user=user,
        )

    def run(step_job_id: int) -> None:
        job_run(job_id=step_job_id, work=lambda j: _promote_work(j, user))

    step_job = _run_step(job, step.name, create, run)
    return {"job": step_job.pk, "active": version.name}


def _promote_work(job: Job, user: Any) -> dict[str, Any]:
    from inference.models import ModelVersion
    from inference.services.stage1 import model_promote

    version = ModelVersion.objects.get(pk=job.params["model_version_id"])
    job_progress(job_id=job.pk, done=0, total=1, message=f"promoting {version.name}")
    if not version.is_active:
        model_promote(version=version, user=user, reason=job.params["reason"])
    job_progress(job_id=job.pk, done=1, total=1, message=f"{version.name} is active")
    return {"active": version.name, "reason": job.params["reason"]}


def _stage1_infer(job: Job, step: Step, options: DemoOptions, user: Any) -> dict[str, Any]:
    from inference.services.stage1 import Cohort, inference_job_create
    from inference.tasks.stage1 import stage1_infer_task

    def create() -> Job:
        return inference_job_create(cohort=Cohort(modalities=list(options.modalities)), user=user)

    step_job = _run_step(job, step.name, create, stage1_infer_task)
    predicted = sum(v.get("cohort", 0) for v in step_job.result.values() if isinstance(v, dict))
    return {"job": step_job.pk, "reports": predicted}


def stage2_report_ids(code: str, count: int) -> list[int]:
    """`count` reports of the modality for stage 2, never from the held-out set (the
    evaluation scores those): reports without gold first (fresh for clinicians),
    then gold ones, oldest ids first so the choice is the same on every run."""
    from analytics.selectors import gold_assignment_ids
    from annotations.models import Report
    from inference.services.stage1 import heldout_report_ids

    heldout = set(heldout_report_ids(code))
    ids = list(Report.objects.filter(modality__code=code).order_by("pk").values_list("pk", flat=True))
    ids = [pk for pk in ids if pk not in heldout]
    gold = set(gold_assignment_ids(report_ids=ids))
    return ([pk for pk in ids if pk not in gold] + [pk for pk in ids if pk in gold])[:count]


def _stage2(job: Job, step: Step, options: DemoOptions, user: Any) -> dict[str, Any]:
    from inference.models import Stage2Prediction
    from inference.services.stage2 import Cohort, stage2_job_create
    from inference.tasks.stage2 import stage2_batch_task

    per_modality = math.ceil(options.stage2_reports / max(len(options.modalities), 1))

    def create() -> Job:
        ids = stage2_report_ids(step.modality, per_modality)
        cohort = Cohort(modality=step.modality, report_ids=tuple(ids))
        return stage2_job_create(cohort=cohort, mode=options.stage2_mode, user=user)

    step_job = _run_step(job, step.name, create, stage2_batch_task)
    result = step_job.result
    if result.get("failed") and not result.get("ok"):
        # The batch "succeeds" with every report stored as failed (a prompt or model
        # problem); clinicians would get nothing to verify, so the pipeline says so.
        first = (
            Stage2Prediction.objects.filter(job=step_job, status=Stage2Prediction.Status.FAILED)
            .values_list("error", flat=True)
            .first()
        )
        raise StepFailed(f"job #{step_job.pk}: all {result['failed']} reports failed, e.g. {first or '?'}")
    return {
        "job": step_job.pk,
        **{k: result.get(k) for k in ("reports", "ok", "failed", "seconds_per_report")},
    }


def _review_sync(job: Job, step: Step, options: DemoOptions, user: Any) -> dict[str, Any]:
    ids: list[int] = []
    for code in options.modalities:
        stage2_job = _recorded(job, f"stage2_{code}")
        if stage2_job is not None:
            ids += list(stage2_job.params["cohort"]["report_ids"])

    def create() -> Job:
        return job_create(
            kind=Job.Kind.OTHER,
            title=f"Demo: put the AI findings of {len(ids)} reports in the review queue",
            params={"demo_step": step.name, "report_ids": ids},
            user=user,
        )

    def run(step_job_id: int) -> None:
        job_run(job_id=step_job_id, work=_review_sync_work)

    step_job = _run_step(job, step.name, create, run)
    return {"job": step_job.pk, **step_job.result}


def _review_sync_work(job: Job) -> dict[str, Any]:
    """review.services.sync_reports in chunks, with progress (idempotent: a resumed
    job syncs the finished chunks again at no harm)."""
    from review.models import ReviewFinding
    from review.services.sync import sync_reports

    ids = list(job.params["report_ids"])
    job_progress(job_id=job.pk, done=0, total=len(ids), message="syncing review findings")
    for start in range(0, len(ids), SYNC_CHUNK):
        sync_reports(ids[start : start + SYNC_CHUNK])
        done = min(start + SYNC_CHUNK, len(ids))
        job_progress(job_id=job.pk, done=done, total=len(ids), message=f"{done}/{len(ids)} reports")
    pending = ReviewFinding.objects.filter(report_id__in=ids, superseded=False).count()
    return {"reports": len(ids), "findings": pending}


def _evaluate(job: Job, step: Step, options: DemoOptions, user: Any) -> dict[str, Any]:
    """Enqueue an evaluation run on the held-out gold set as its own Celery message (a
    site's evaluation run exactly; it starts when this worker is free)."""
    from analytics.models import EvaluationRun
    from analytics.services.evaluation import evaluation_start
    from analytics.tasks import evaluation_task
    from annotations.models import Modality

    recorded = _recorded(job, step.name)
    if recorded is None:
        modality = Modality.objects.get(code=step.modality)
        run = evaluation_start(
            user=user,
            modality=modality,
            gold_set=EvaluationRun.GoldSet.HELDOUT,
            modes=list(options.eval_modes),
        )
        assert run.job is not None
        job_enqueue(job=run.job, task=evaluation_task)  # the caller enqueues, as a view does
        _record(job, step.name, run.job)
        recorded = run.job
    recorded.refresh_from_db()
    if recorded.status in (Job.Status.FAILED, Job.Status.CANCELLED):
        raise StepFailed(f"job #{recorded.pk} {recorded.get_status_display().lower()}: {recorded.error}")
    return {"job": recorded.pk, "status": recorded.status}

"""The stage 1 model screens (admins): versions per modality with their data,
metrics and config; a version's detail (per-key table, loss curves, comparison with
the active version, promotion history); forms that start training and inference
runs (background jobs, never work inside the request); promote, roll back and
retire with a reason."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotations.models import Modality
from inference.models import ModelPromotion, ModelVersion
from inference.selectors import model_version_active
from inference.services.stage1_data import (
    LABEL_SOURCE_LABELS,
    WEAK_AUTO,
    Stage1DataError,
    TrainingInputs,
    heldout_report_ids,
    training_inputs_preview,
)
from inference.services.stage1_inference import Cohort, inference_job_create
from inference.services.stage1_registry import (
    PromotionError,
    PromotionNeedsConfirmation,
    PromotionWarning,
    model_promote,
    model_rollback,
    model_version_retire,
    promotion_warning,
    versions_compare,
)
from inference.services.stage1_training import training_job_create
from inference.tasks.stage1 import stage1_infer_task, stage1_train_task
from inference.views.stage1_forms import InferForm, PromoteForm, ReasonForm, TrainForm
from jobs.models import Job
from jobs.selectors import job_outcome
from jobs.services import job_enqueue
from radreview.roles import PERM_PROMOTE, PERM_RUN_JOBS

LIST_TEMPLATE = "inference/model_list.html"
DETAIL_TEMPLATE = "inference/model_detail.html"
RECENT_RUNS = 10
SVG_WIDTH, SVG_HEIGHT = 600, 180
PHASE_TITLES = {"finetune": "Fine-tuning", "pretrain": "Masked-LM pretraining"}


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def model_list(request: HttpRequest) -> HttpResponse:
    return _render_list(request, TrainForm(), InferForm())


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def model_runs(request: HttpRequest) -> HttpResponse:
    """The recent stage 1 runs table, polled by htmx while one is going."""
    return render(request, f"{LIST_TEMPLATE}#stage1-runs", _runs())


@require_POST
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def train_start(request: HttpRequest) -> HttpResponse:
    form = TrainForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            job, version = training_job_create(
                modality=data["modality"],
                preset=data["preset"],
                label_sources=data["label_sources"],
                weak_mode=data["weak_mode"],
                init_checkpoint=data["init_checkpoint"],
                pretrain=data["pretrain"],
                morphemes=data["morphemes"],
                epochs=data["epochs"],
                members=data["members"],
                user=request.user,
            )
        except Stage1DataError as exc:
            form.add_error(None, str(exc))
        else:
            job_enqueue(job=job, task=stage1_train_task)
            messages.success(request, f"Training of {version.name} queued as job #{job.pk}.")
            return redirect("inference:model_list")
    return _render_list(request, form, InferForm(), status=400)


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def train_preview(request: HttpRequest) -> HttpResponse:
    """What the training form's recipe would train on: the counts per source, or why it
    would be refused (htmx swaps it in when the modality or a source changes)."""
    return render(request, f"{LIST_TEMPLATE}#train-preview", {"preview": _train_preview(request.GET)})


@require_POST
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def infer_start(request: HttpRequest) -> HttpResponse:
    form = InferForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        cohort = Cohort(
            modalities=[data["modality"].code] if data["modality"] else [],
            date_from=data["date_from"],
            date_to=data["date_to"],
            patient_ids=data["patient_ids"],
        )
        try:
            job = inference_job_create(cohort=cohort, user=request.user)
        except Stage1DataError as exc:
            form.add_error(None, str(exc))
        else:
            job_enqueue(job=job, task=stage1_infer_task)
            messages.success(request, f"Inference queued as job #{job.pk}.")
            return redirect("inference:model_list")
    return _render_list(request, TrainForm(), form, status=400)


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion.objects.select_related("modality", "job", "created_by"), pk=pk)
    return _render_detail(request, version, PromoteForm())


@require_POST
@permission_required(PERM_PROMOTE, raise_exception=True)
def model_promote_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Promote with a reason. A version worse than the active one answers 409 with the
    comparison and a second form that says so (confirm_worse=1)."""
    version = get_object_or_404(ModelVersion.objects.select_related("modality", "job"), pk=pk)
    form = PromoteForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            model_promote(
                version=version, user=request.user, reason=data["reason"], confirm_worse=data["confirm_worse"]
            )
        except PromotionNeedsConfirmation as exc:
            return _render_detail(request, version, form, confirm=exc.warning, status=409)
        except PromotionError as exc:
            form.add_error("reason", str(exc))
        else:
            note = " (although worse than the version it replaces)" if data["confirm_worse"] else ""
            active = f"{version.name} is now the active {version.modality.name} model"
            messages.success(request, f"{active}{note}.")
            return redirect("inference:model_detail", pk=pk)
    return _render_detail(request, version, form, status=400)


@require_POST
@permission_required(PERM_PROMOTE, raise_exception=True)
def model_retire_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Retire instead of delete: a version that predicted keeps its rows."""
    version = get_object_or_404(ModelVersion.objects.select_related("modality", "job"), pk=pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            model_version_retire(version=version, user=request.user, reason=form.cleaned_data["reason"])
        except PromotionError as exc:
            form.add_error("reason", str(exc))
        else:
            messages.success(request, f"{version.name} is retired; its predictions are kept.")
            return redirect("inference:model_detail", pk=pk)
    return _render_detail(request, version, PromoteForm(), retire_form=form, status=400)


@require_POST
@permission_required(PERM_PROMOTE, raise_exception=True)
def model_rollback_view(request: HttpRequest, code: str) -> HttpResponse:
    modality = get_object_or_404(Modality, code=code)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Rolling back needs a reason.")
        return redirect("inference:model_list")
    try:
        record = model_rollback(modality=modality, user=request.user, reason=form.cleaned_data["reason"])
    except PromotionError as exc:
        messages.error(request, str(exc))
        return redirect("inference:model_list")
    messages.success(request, f"Rolled back: {record.model_version.name} is active again.")
    return redirect("inference:model_detail", pk=record.model_version_id)


# -- page data ----------------------------------------------------------------------------------


def _render_list(
    request: HttpRequest, train_form: TrainForm, infer_form: InferForm, status: int = 200
) -> HttpResponse:
    modalities = []
    for modality in Modality.objects.order_by("code"):
        versions = list(ModelVersion.objects.filter(modality=modality).select_related("job", "created_by"))
        modalities.append(
            {
                "modality": modality,
                "versions": [_summary(v) for v in versions],
                "active": next((v for v in versions if v.is_active), None),
                "n_heldout": len(heldout_report_ids(modality)),
            }
        )
    context = {
        "modalities": modalities,
        "train_form": train_form,
        "preview": _train_preview(train_form.data if train_form.is_bound else None),
        "infer_form": infer_form,
        "rollback_form": ReasonForm(),
        "can_promote": request.user.has_perm(PERM_PROMOTE),
        **_runs(),
    }
    return render(request, LIST_TEMPLATE, context, status=status)


def _train_preview(data: Any) -> dict[str, Any]:
    """{"inputs": TrainingInputs} for the recipe in `data` (a form's data; None: the first
    modality with the form's defaults), or {"error": why it cannot be counted}."""
    if data is None:
        first = Modality.objects.order_by("code").values_list("code", flat=True).first()
        data = {"modality": first, "label_sources": "gold_weak", "weak_mode": WEAK_AUTO}
    code = data.get("modality")
    if not code:
        return {"error": "Choose a modality to see what the recipe trains on."}
    inputs: TrainingInputs | None = None
    try:
        inputs = training_inputs_preview(
            str(code),
            label_sources=str(data.get("label_sources") or "gold_weak"),
            weak_mode=str(data.get("weak_mode") or WEAK_AUTO),
        )
    except Stage1DataError as exc:
        return {"error": str(exc)}
    return {"inputs": inputs}


def _runs() -> dict[str, Any]:
    runs = list(
        Job.objects.filter(kind__in=[Job.Kind.TRAIN, Job.Kind.INFER], title__startswith="Stage 1")
        .select_related("created_by")
        .defer("log", "params")
        .order_by("-created_at")[:RECENT_RUNS]
    )
    # A finished run shows what it did (the gold and weak labels a training used), not its last step.
    outcomes = {job.pk: outcome.summary for job in runs if (outcome := job_outcome(job)) and outcome.summary}
    return {"runs": runs, "running": any(not job.is_finished for job in runs), "run_outcomes": outcomes}


def _summary(version: ModelVersion) -> dict[str, Any]:
    heldout = (version.metrics or {}).get("heldout") or {}
    return {
        "version": version,
        "label_sources": ", ".join(version.label_sources)
        or LABEL_SOURCE_LABELS.get(version.config.get("request", {}).get("label_sources", ""), ""),
        "macro_f1": (heldout.get("macro") or {}).get("f1"),
        "report_f1": (heldout.get("report") or {}).get("f1"),
        "report_accuracy": (heldout.get("report") or {}).get("accuracy"),
        "n_heldout": (version.metrics or {}).get("n_heldout"),
        "status": _effective_status(version),
        "error": version.job.error if version.job and version.job.status == Job.Status.FAILED else "",
    }


def _effective_status(version: ModelVersion) -> str:
    """A run cancelled while still queued never reached the worker that would have
    marked its version; its job says what happened."""
    job = version.job
    if version.status == ModelVersion.Status.TRAINING and job is not None and job.is_finished:
        ended: dict[str, str] = {Job.Status.CANCELLED: "cancelled", Job.Status.FAILED: "failed"}
        return ended.get(job.status, version.status)
    return version.status


def _render_detail(
    request: HttpRequest,
    version: ModelVersion,
    form: ReasonForm,
    retire_form: ReasonForm | None = None,
    confirm: PromotionWarning | None = None,
    status: int = 200,
) -> HttpResponse:
    """The version's page. `confirm`: the warning a promotion was refused with (409),
    shown with the form that promotes anyway."""
    metrics = version.metrics or {}
    heldout = metrics.get("heldout") or {}
    active = model_version_active(modality=version.modality)
    comparison = None
    if active is not None and active.pk != version.pk and version.status == ModelVersion.Status.READY:
        comparison = versions_compare(version, active)
    warning = confirm or (promotion_warning(version, active, comparison=comparison) if comparison else None)
    per_key = [_key_row(key, (heldout.get("per_key") or {}).get(key, {}), version) for key in version.keys]
    context = {
        "version": version,
        "summary": _summary(version),
        "heldout": heldout,
        "validation": metrics.get("validation") or {},
        "training": metrics.get("training") or {},
        "per_key": per_key,
        "active": active,
        "comparison": comparison,
        "warning": warning,
        "confirm": confirm,
        "promotions": ModelPromotion.objects.filter(modality=version.modality)
        .select_related("model_version", "previous", "user")
        .order_by("-created_at")[:20],
        "form": form,
        "retire_form": retire_form or ReasonForm(),
        "can_retire": version.status not in (ModelVersion.Status.TRAINING, ModelVersion.Status.RETIRED)
        and not version.is_active,
        "can_promote": request.user.has_perm(PERM_PROMOTE),
        "curves_json": json.dumps(version.curves or {}),
        "charts": [_loss_chart(name, data) for name, data in (version.curves or {}).items()],
        "config_json": json.dumps(version.config or {}, indent=2, sort_keys=True),
        "counts_json": json.dumps(version.data_counts or {}, indent=2, sort_keys=True),
        "weak_mode": next((s.split(":", 1)[1] for s in version.label_sources if s.startswith("weak:")), ""),
        "requested_counts": (version.config or {}).get("request", {}).get("requested_counts"),
    }
    return render(request, DETAIL_TEMPLATE, context, status=status)


KEY_FIELDS = ("support", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "specificity")


def _key_row(key: str, counts: dict[str, Any], version: ModelVersion) -> dict[str, Any]:
    """Every column present (None when unknown) so the template's number filters never see ''."""
    return {"key": key, "threshold": version.thresholds.get(key), **{f: counts.get(f) for f in KEY_FIELDS}}


def _loss_chart(phase: str, curves: dict[str, Any]) -> dict[str, Any]:
    """An inline SVG polyline of loss per step (the analytics dashboard draws the
    interactive Plotly version from the same stored curves)."""
    steps = [(p["step"], p["loss"]) for p in curves.get("steps", []) if p.get("loss") is not None]
    if len(steps) < 2:
        return {"phase": phase, "title": PHASE_TITLES.get(phase, phase), "points": "", "n": len(steps)}
    xs, ys = [s for s, _ in steps], [loss for _, loss in steps]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = max(x1 - x0, 1), max(y1 - y0, 1e-9)
    points = " ".join(
        f"{(x - x0) / span_x * SVG_WIDTH:.1f},{SVG_HEIGHT - (y - y0) / span_y * SVG_HEIGHT:.1f}"
        for x, y in steps
    )
    return {
        "phase": phase,
        "title": PHASE_TITLES.get(phase, phase),
        "points": points,
        "n": len(steps),
        "first_step": x0,
        "last_step": x1,
        "min_loss": y0,
        "max_loss": y1,
        "width": SVG_WIDTH,
        "height": SVG_HEIGHT,
    }

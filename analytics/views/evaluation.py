"""Evaluation runs: the list with a start form (admins), and the dashboard of one
stored run (admins and clinicians). The dashboard reads stored JSON only."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from analytics import charts, selectors
from analytics.evaluation import mode_label, ordered_modes
from analytics.forms import EvaluationStartForm
from analytics.models import EvaluationRun
from analytics.permissions import analytics_viewer_required
from analytics.services.evaluation import evaluation_start
from analytics.tasks import evaluation_task
from inference.ml.questions import QUESTION_LABELS
from jobs.services import job_enqueue
from radreview.roles import PERM_RUN_JOBS

# The brain MRI non-tumor detail keys whose confusion the method shows (Fig. 3).
NON_TUMOR_KEYS = (
    "demyelinating",
    "hemorrhage/vascular lesion",
    "infection/inflammation",
    "stroke/infarction",
)
RUNS_SHOWN = 50
# Bump when analytics.charts draws the dashboard differently: cached figures are rebuilt.
CHARTS_VERSION = 1
CHARTS_CACHE_SECONDS = 24 * 3600


@require_GET
@analytics_viewer_required
def evaluation_list(request: HttpRequest) -> HttpResponse:
    return _render_list(request, EvaluationStartForm() if request.user.has_perm(PERM_RUN_JOBS) else None)


def _render_list(request: HttpRequest, form: EvaluationStartForm | None, status: int = 200) -> HttpResponse:
    context = {"runs": selectors.evaluation_runs()[:RUNS_SHOWN], "form": form}
    return render(
        request,
        "analytics/evaluation_list.html",
        context,
        status=status,
    )


@require_POST
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def evaluation_create(request: HttpRequest) -> HttpResponse:
    """Queue an evaluation run. A form error re-renders the page with the form as the
    admin filled it (modality, gold set, methods) and the error at its field."""
    form = EvaluationStartForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_list(request, form, status=400)
    try:
        run = evaluation_start(
            user=request.user,
            modality=form.cleaned_data["modality"],
            gold_set=form.cleaned_data["gold_set"],
            modes=form.cleaned_data["modes"],
            gold_file=form.cleaned_data.get("gold_file"),
        )
    except ValueError as exc:
        form.add_error(None, str(exc))
        return _render_list(request, form, status=400)
    assert run.job is not None  # evaluation_start creates both
    job_enqueue(job=run.job, task=evaluation_task)
    messages.success(request, f"Evaluation #{run.pk} queued: its progress is on the runs page.")
    return redirect("analytics:evaluation_detail", pk=run.pk)


@require_GET
@analytics_viewer_required
def evaluation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = selectors.evaluation_run(pk)
    except EvaluationRun.DoesNotExist as exc:
        raise Http404("no such evaluation run") from exc
    context: dict[str, Any] = {"run": run, "job": run.job}
    if run.has_results:
        context.update(dashboard_context(run.results, run.comparisons))
    return render(request, "analytics/evaluation_detail.html", context)


def dashboard_context(results: dict[str, Any], comparisons: dict[str, Any]) -> dict[str, Any]:
    """Tables and figures of the dashboard, from a stored run's two JSON columns."""
    modes = ordered_modes(results["modes"])
    label = {m: mode_label(m, results["modes"][m]) for m in modes}
    summary = []
    for mode in modes:
        entry = results["modes"][mode]
        summary.append(
            {
                "label": label[mode],
                "report": (entry.get("entity") or {}).get("report"),
                "macro": (entry.get("entity") or {}).get("macro"),
                "relation_macro": (entry.get("relation") or {}).get("macro"),
                "seconds": entry.get("seconds_per_report"),
            }
        )
    relation_modes = [m for m in modes if (results["modes"][m].get("relation") or {}).get("per_key")]
    relation_keys: list[str] = []
    for mode in relation_modes:
        for key in results["modes"][mode]["relation"]["per_key"]:
            if key not in relation_keys:
                relation_keys.append(key)
    relation_rows = [
        {"key": key, "cells": [results["modes"][m]["relation"]["per_key"].get(key) for m in relation_modes]}
        for key in relation_keys
    ]
    relation_macro = [results["modes"][m]["relation"].get("macro") for m in relation_modes]
    pairs = [
        {**p, "a_label": label.get(p["a"], p["a"]), "b_label": label.get(p["b"], p["b"])}
        for p in comparisons.get("pairs") or []
    ]
    negation = [
        {"label": label[m], **comparisons["negation"][m]}
        for m in modes
        if m in (comparisons.get("negation") or {})
    ]
    is_brain = results.get("modality") == "brain_mri"
    questions = [
        {
            "label": label[m],
            "rows": [
                {"code": code, "label": QUESTION_LABELS.get(code, code), **figures}
                for code, figures in results["modes"][m]["questions"].items()
            ],
        }
        for m in modes
        if results["modes"][m].get("questions")
    ]
    return {
        "questions": questions,
        "summary": summary,
        "relation_modes": [label[m] for m in relation_modes],
        "relation_rows": relation_rows,
        "relation_macro": relation_macro,
        "relation_unit": "diagnosis" if is_brain else "lesion",
        "pairs": pairs,
        "negation": negation,
        "charts": dashboard_charts(results, comparisons, is_brain=is_brain),
    }


def dashboard_charts(
    results: dict[str, Any], comparisons: dict[str, Any], *, is_brain: bool
) -> dict[str, Any]:
    """The dashboard's figures, built once per stored result: plotly's figure objects
    validate every property, which was most of the page's time. Cached (the default
    cache) under a digest of the two JSON columns, so changed results are built anew."""
    digest = hashlib.sha256(
        json.dumps([results, comparisons], sort_keys=True, default=str).encode()
    ).hexdigest()
    key = f"analytics:dashboard-charts:{CHARTS_VERSION}:{digest}"
    figures = cache.get(key)
    if figures is None:
        figures = {
            "key_bars": charts.key_metric_bars(results),
            "confusion": charts.confusion_heatmaps(results, NON_TUMOR_KEYS) if is_brain else None,
            "negation": charts.negation_bars(comparisons, results),
            "bootstrap": charts.bootstrap_forest(comparisons, results),
        }
        cache.set(key, figures, timeout=CHARTS_CACHE_SECONDS)
    return figures

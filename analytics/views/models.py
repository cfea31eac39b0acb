"""Compare a candidate stage 1 model version with the active one of its modality on
the held-out gold set, before an admin promotes it; training loss curves."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from analytics import charts, selectors
from analytics.permissions import analytics_viewer_required
from inference.models import ModelVersion
from inference.selectors import model_version_active
from radreview.roles import PERM_PROMOTE


@require_GET
@analytics_viewer_required
def model_compare(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = get_object_or_404(ModelVersion.objects.select_related("modality", "job"), pk=pk)
    active = model_version_active(modality=candidate.modality)
    baseline = active if active and active.pk != candidate.pk else None
    comparison = selectors.model_comparison(candidate=candidate, baseline=baseline)
    context = {
        "candidate": candidate,
        "active": active,
        "baseline": baseline,
        "comparison": comparison,
        "versions": ModelVersion.objects.filter(modality=candidate.modality).order_by("-created_at")[:20],
        "promote_url": _promote_url(candidate) if request.user.has_perm(PERM_PROMOTE) else None,
        "charts": {
            "deltas": charts.key_delta_bars(comparison.get("rows") or []) if baseline else None,
            "loss": charts.loss_curves(candidate.curves or {}),
            "baseline_loss": charts.loss_curves(baseline.curves or {}) if baseline else None,
        },
    }
    return render(request, "analytics/model_compare.html", context)


def _promote_url(version: ModelVersion) -> str | None:
    """The stage 1 detail page owns promotion (a form asking for the reason)."""
    try:
        return reverse("inference:model_detail", args=[version.pk]) + "#promote-form"
    except NoReverseMatch:
        return None

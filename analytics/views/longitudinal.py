"""Brain MRI episodes over time: per patient, and the cohort Sankey (Figure 4)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics import charts, selectors
from analytics.forms import LongitudinalFilterForm
from analytics.longitudinal import cohort_transitions
from analytics.permissions import analytics_viewer_required
from analytics.views.assets import PLOTLY_VERSION
from annotations.models import Report

PATIENTS_PER_PAGE = 25


@require_GET
@analytics_viewer_required
def longitudinal(request: HttpRequest) -> HttpResponse:
    form = LongitudinalFilterForm(request.GET or None)
    filters = form.filters()
    series = selectors.brain_mri_series()
    cohort = cohort_transitions(
        series,
        min_reports=filters["min_reports"],
        single_diagnosis=filters["single_diagnosis"],
        verified_only=filters["verified_only"],
    )
    patient = filters["patient"]
    timeline = None
    if patient:
        timeline = {
            "patient_id": patient,
            "reports": series.get(patient, []),
            "diagnoses": sorted({d for r in series.get(patient, []) for d in r.episodes}),
            "paths": [p for p in cohort.paths if p.patient_id == patient],
        }
    patients = (
        Report.objects.filter(modality__code=selectors.BRAIN_MRI)
        .values("patient_id")
        .annotate(reports=Count("id"))
        .order_by("-reports", "patient_id")
    )
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    included = {p.patient_id for p in cohort.paths}
    context = {
        "form": form,
        "filters": filters,
        "cohort": cohort,
        "links": [
            {"diagnosis": k.diagnosis, "source": k.source.name, "target": k.target.name, "count": k.count}
            for k in cohort.links
        ],
        "sankey": charts.episode_sankey(cohort),
        "timeline": timeline,
        "page": page,
        "included": included,
        "query_base": _query_without(request, ("patient", "page")),
    }
    return render(request, "analytics/longitudinal.html", {**context, "plotly_version": PLOTLY_VERSION})


def _query_without(request: HttpRequest, names: tuple[str, ...]) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    encoded = query.urlencode()
    return f"{encoded}&" if encoded else ""

"""Brain MRI episodes over time: per patient, and the cohort Sankey (Figure 4).

Choosing a patient (and the filters) is a form POST that redirects to ?f=<token>
(radreview.private_query): the patient id never reaches a URL."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from analytics import charts, selectors
from analytics.forms import LongitudinalFilterForm
from analytics.longitudinal import cohort_transitions
from analytics.permissions import analytics_viewer_required
from annotations.models import Report
from radreview.private_query import FILTER_PARAM, filters_query, filters_save, link_query

PATIENTS_PER_PAGE = 25
SCOPE = "longitudinal"


@require_http_methods(["GET", "POST"])
@analytics_viewer_required
def longitudinal(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        token = filters_save(request, scope=SCOPE, data=request.POST)
        anchor = "#patient" if request.POST.get("patient") else ""
        return redirect(f"{reverse('analytics:longitudinal')}?{FILTER_PARAM}={token}{anchor}")
    query, token = filters_query(request, scope=SCOPE)
    form = LongitudinalFilterForm(query or None)
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
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(query.get("page"))
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
        "query_base": link_query(request, token, drop=("page",)),
    }
    return render(request, "analytics/longitudinal.html", context)

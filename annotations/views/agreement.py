"""Agreement between two annotators, and adjudication of double-annotated reports (admins)."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from annotations import selectors
from annotations.models import Assignment, Modality, Report
from annotations.permissions import PERM_ADJUDICATE
from annotations.services.adjudication import (
    adjudication_create,
    adjudication_differences,
    adjudication_pick,
    adjudication_versions,
)
from annotations.services.agreement import agreement_for
from annotations.workspace import workspace_build
from radreview.bounds import bounded_int


@require_GET
@permission_required(PERM_ADJUDICATE, raise_exception=True)
def agreement(request: HttpRequest) -> HttpResponse:
    modality = Modality.objects.filter(code=request.GET.get("modality", "")).first() or _busiest_modality()
    pairs = selectors.double_annotated(modality=modality) if modality else []
    # Parsed first: a non-numeric ?a= is no annotator, not a server error.
    a_id, b_id = _int(request.GET.get("a")), _int(request.GET.get("b"))
    users = get_user_model().objects.in_bulk([i for i in (a_id, b_id) if i is not None])
    a, b = users.get(a_id), users.get(b_id)
    if (a is None or b is None) and pairs:
        a, b = pairs[0]["a"], pairs[0]["b"]
    # No modality at all (an empty site) compares nothing, whoever ?a= and ?b= name.
    result = agreement_for(modality=modality, annotator_a=a, annotator_b=b) if modality and a and b else None
    context = {
        "modalities": Modality.objects.all(),
        "modality": modality,
        "pairs": pairs,
        "a": a,
        "b": b,
        "result": result,
        "reports": selectors.reports_for_adjudication(modality=modality)[:200] if modality else [],
    }
    return render(request, "annotations/agreement.html", context)


def _busiest_modality() -> Modality | None:
    """The modality with the most submitted annotations (else the first): the page
    opens where there is something to compare."""
    busiest = (
        Assignment.objects.filter(kind=Assignment.Kind.ANNOTATION, status=Assignment.Status.SUBMITTED)
        .values("report__modality")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    chosen = Modality.objects.filter(pk=busiest["report__modality"]).first() if busiest else None
    return chosen or Modality.objects.first()


def _int(value: str | None) -> int | None:
    """An id from the query or a form; one that no row can have (malformed, or past
    the id columns' range, which the database cannot even compare) is None."""
    try:
        return bounded_int(value, name="id") if value else None
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
@permission_required(PERM_ADJUDICATE, raise_exception=True)
def adjudicate(request: HttpRequest, report_id: int) -> HttpResponse:
    """Both versions side by side; pick one, or merge the ticked mentions and pairs."""
    report = get_object_or_404(Report.objects.select_related("modality"), pk=report_id)
    versions = adjudication_versions(report=report)[:2]
    error = ""
    if request.method == "POST":
        try:
            _adjudicate(request, report, versions)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, f"Report {report.external_id}: the adjudicated version is now gold.")
            return redirect(f"{reverse('annotations:agreement')}?modality={report.modality.code}")
    differences = adjudication_differences(versions=versions)
    workspaces = [workspace_build(assignment=v, user=request.user, with_suggestions=False) for v in versions]
    context = {
        "report": report,
        "versions": workspaces,
        "only_mentions": differences.only_mentions,
        "only_relations": differences.only_relations,
        "flags_differ": differences.flags_differ,
        "gold": selectors.report_gold_assignment(report=report),
        "error": error,
    }
    return render(request, "annotations/adjudicate.html", context, status=400 if error else 200)


def _adjudicate(request: HttpRequest, report: Report, versions: list[Any]) -> None:
    action = request.POST.get("action", "")
    if action.startswith("pick-"):
        chosen = next((v for v in versions if str(v.pk) == action[5:]), None)
        if chosen is None:
            raise ValidationError("Choose one of the two versions.")
        adjudication_pick(report=report, user=request.user, assignment=chosen)
        return
    adjudication_create(
        report=report,
        user=request.user,
        mention_ids=_ids(request.POST.getlist("mention")),
        relation_ids=_ids(request.POST.getlist("relation")),
        no_findings=request.POST.get("no_findings") == "on",
    )


def _ids(values: list[str]) -> list[int]:
    """The ticked ids; one that names no row is left out, as an unknown id would be."""
    return [i for i in map(_int, values) if i is not None]

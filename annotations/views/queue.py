"""The annotator's queue, and the admin screen that fills and orders queues."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations import selectors
from annotations.forms import AssignForm, ReorderForm
from annotations.models import Assignment, Modality
from annotations.permissions import PERM_ASSIGN
from annotations.services.assignments import (
    assignment_report_ids,
    assignments_create,
    assignments_take_back,
)
from annotations.services.queue_order import queue_reorder, uncertainty_status
from radreview.http import AuthenticatedHttpRequest
from radreview.roles import PERM_ANNOTATE


@require_GET
@permission_required(PERM_ANNOTATE, raise_exception=True)
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """My assignments; htmx filter changes swap the table only."""
    filters = {k: request.GET.get(k, "") for k in ("status", "modality")}
    rows = selectors.assignment_queue(user=request.user, **filters)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    counts = Assignment.objects.filter(annotator=request.user, kind=Assignment.Kind.ANNOTATION).aggregate(
        **{s: Count("id", filter=Q(status=s)) for s in Assignment.Status.values}
    )
    context = {
        "page": page,
        "filters": filters,
        "status_counts": [(value, label, counts[value]) for value, label in Assignment.Status.choices],
        "statuses": Assignment.Status.choices,
        "modalities": Modality.objects.all(),
        "next": selectors.assignment_next(user=request.user),
    }
    template = "annotations/queue.html"
    return render(request, f"{template}#queue-table" if request.htmx else template, context)


@require_http_methods(["GET", "POST"])
@permission_required(PERM_ASSIGN, raise_exception=True)
def assign(request: HttpRequest) -> HttpResponse:
    form = AssignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        people = [p for p in (data["annotator"], data["second_annotator"]) if p]
        try:
            ids = assignment_report_ids(
                modality=data["modality"],
                how=data["how"],
                external_ids=form.external_id_list(),
                n=data["n"],
                query=data["query"],
                only_unassigned=data["only_unassigned"],
            )
            result = assignments_create(
                report_ids=ids, annotators=people, assigned_by=request.user, order=data["order"]
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(
                request,
                f"Assigned {result.reports} report(s) to {' and '.join(p.get_username() for p in people)}: "
                f"{result.created} new assignment(s), {result.skipped} already there.",
            )
            return redirect("annotations:assign")
    return render(request, "annotations/assign.html", _assign_context(form, ReorderForm()))


@require_POST
@permission_required(PERM_ASSIGN, raise_exception=True)
def reorder(request: HttpRequest) -> HttpResponse:
    form = ReorderForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = queue_reorder(
                order=data["order"],
                modality_id=data["modality"].pk if data["modality"] else None,
                annotator_id=data["annotator"].pk if data["annotator"] else None,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc, field="order")
        else:
            messages.success(request, f"Re-ordered {result.updated} open assignment(s).")
            return redirect("annotations:assign")
    return render(request, "annotations/assign.html", _assign_context(AssignForm(), form), status=400)


@require_POST
@permission_required(PERM_ASSIGN, raise_exception=True)
def take_back(request: HttpRequest) -> HttpResponse:
    """Take back an annotator's unstarted assignments (of one modality)."""
    annotator = get_object_or_404(get_user_model(), pk=_int(request.POST.get("annotator")))
    modality = Modality.objects.filter(code=request.POST.get("modality", "")).first()
    taken = assignments_take_back(annotator=annotator, modality=modality)
    where = f" of {modality.name}" if modality else ""
    messages.success(
        request, f"Took back {taken} unstarted assignment(s){where} from {annotator.get_username()}."
    )
    return redirect("annotations:assign")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _errors_to_form(form: forms.Form, exc: ValidationError, field: str | None = None) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(field, exc.messages)


def _assign_context(form: AssignForm, reorder_form: ReorderForm) -> dict[str, object]:
    workload = (
        Assignment.objects.filter(kind=Assignment.Kind.ANNOTATION)
        .values("annotator_id", "annotator__username", "report__modality__code", "report__modality__name")
        .annotate(**{s: Count("id", filter=Q(status=s)) for s in Assignment.Status.values})
        .order_by("annotator__username", "report__modality__name")
    )
    return {
        "form": form,
        "reorder_form": reorder_form,
        "workload": workload,
        "uncertainty": uncertainty_status(),
    }

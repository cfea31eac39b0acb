"""The jobs screens (admins): every background job, its live progress, and cancel.

Each view serves a whole page and, to htmx, the fragment that page swaps: the
table (pagination), a row (polled every 2 s while the job runs), the status panel
of the detail page (polled the same way). The list is the admin's "runs" page:
filters by kind and status, failure reasons inline, links to the start forms.
"""

import json
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors, services
from jobs.models import Job
from radreview.http import HtmxHttpRequest
from radreview.roles import PERM_RUN_JOBS

PAGE_SIZE = 50
# The start forms other screens own, linked from the runs page when they exist:
# (label, URL name, fragment of the form on that page).
START_LINKS = (
    ("Start training", "inference:model_list", "#train-card"),
    ("Start inference", "inference:model_list", "#infer-form"),
    ("Start stage 2", "inference:stage2_start", ""),
    ("Start evaluation", "analytics:evaluation_list", ""),
)
ERROR_PREVIEW_CHARS = 160


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    kind, status = _choice(request, "kind", Job.Kind.values), _choice(request, "status", Job.Status.values)
    page = Paginator(_filtered(kind=kind, status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [_row(job, now) for job in page]
    template = "jobs/job_list.html#job_table" if request.htmx else "jobs/job_list.html"
    context = {
        "page": page,
        "rows": rows,
        "kind": kind,
        "status": status,
        "kinds": Job.Kind.choices,
        "statuses": Job.Status.choices,
        "filter_query": "&".join(f"{k}={v}" for k, v in (("kind", kind), ("status", status)) if v),
        "start_links": _start_links(),
    }
    return render(request, template, context)


def _choice(request: HttpRequest, name: str, allowed: list[str]) -> str:
    """A filter value from the query string; anything unknown means no filter."""
    value = request.GET.get(name, "")
    return value if value in allowed else ""


def _filtered(*, kind: str, status: str) -> QuerySet[Job]:
    jobs = selectors.job_list().annotate(error_preview=Substr("error", 1, ERROR_PREVIEW_CHARS))
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def _start_links() -> list[dict[str, str]]:
    links = []
    for label, name, fragment in START_LINKS:
        try:
            links.append({"label": label, "url": reverse(name) + fragment})
        except NoReverseMatch:
            continue  # that screen is not installed
    return links


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_row(request, pk)


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def job_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.job_detail(), pk=pk)
    context = {
        "job": job,
        "timing": selectors.job_timing(job=job, now=timezone.now()),
        "outcome": selectors.job_outcome(job),
        "standing": selectors.queue_standing(job=job, now=timezone.now()),
        "params_json": _pretty(job.params),
        "result_json": _pretty(job.result),
    }
    template = "jobs/job_detail.html#job_status" if request.htmx else "jobs/job_detail.html"
    return render(request, template, context)


@require_POST
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def job_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """From a list row (htmx): answer the updated row. From the detail page (a
    plain form): say what happened and go back to the detail page."""
    job = get_object_or_404(Job, pk=pk)  # its status before the cancel, for the message
    cancelled = services.job_cancel(job=job)
    if request.htmx:
        return _render_row(request, pk)
    if not cancelled:
        messages.info(request, "The job had already finished.")
    elif job.status == Job.Status.QUEUED:
        messages.success(request, "The job was cancelled before it started.")
    else:
        messages.success(request, "Cancellation requested: the job stops at its next progress report.")
    return redirect("jobs:job_detail", pk=pk)


def _render_row(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(_filtered(kind="", status=""), pk=pk)
    return render(request, "jobs/job_list.html#job_row", {"row": _row(job, timezone.now())})


def _row(job: Job, now: datetime) -> dict[str, object]:
    timing = selectors.job_timing(job=job, now=now)
    return {"job": job, "timing": timing, "outcome": selectors.job_outcome(job)}


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) if value else ""

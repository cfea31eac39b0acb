"""Weak labelling (admins): start a run, watch it, and compare the two modes
against the gold labels per key (the figures come from the latest run)."""

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from annotations.forms import WeakLabelRunForm
from annotations.models import Modality
from annotations.selectors import weak_label_comparison, weak_label_runs
from annotations.services.weak_labels import WeakLabelError, weak_label_job_create
from annotations.tasks import weak_label_task
from jobs.services import job_enqueue
from radreview.roles import PERM_RUN_JOBS

TEMPLATE = "annotations/weak_labels.html"


@require_http_methods(["GET", "POST"])
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def weak_labels(request: HttpRequest) -> HttpResponse:
    form = WeakLabelRunForm(request.POST or None, initial={"modalities": Modality.objects.all()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = weak_label_job_create(
                modalities=[m.code for m in data["modalities"]],
                modes=data["modes"],
                prune_older=data["prune_older"],
                user=request.user,
            )
        except WeakLabelError as exc:
            form.add_error("modes", str(exc))
        else:
            job_enqueue(job=job, task=weak_label_task)
            return redirect("annotations:weak_labels")
    context = {"form": form, **_runs(), "comparison": weak_label_comparison()}
    return render(request, TEMPLATE, context, status=400 if form.errors else 200)


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def weak_label_runs_fragment(request: HttpRequest) -> HttpResponse:
    """The runs table, polled by htmx while a run is going."""
    return render(request, f"{TEMPLATE}#weak-runs", _runs())


def _runs() -> dict[str, object]:
    runs = weak_label_runs()
    return {"runs": runs, "running": any(not job.is_finished for job in runs)}

"""Report import screens (admins): upload a file, then watch its job.

The request only streams the upload to disk and queues a job; the import
itself runs in a Celery worker (annotations.tasks.import_reports_task).
Report text is never shown here.
"""

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from annotations.forms import ImportUploadForm, LabelImportForm
from annotations.services.importing import import_job_create
from annotations.services.label_import import label_import_job_create
from annotations.tasks import import_labels_task, import_reports_task
from jobs.models import Job
from jobs.selectors import queue_standing
from jobs.services import job_cancel, job_enqueue
from radreview.http import HtmxHttpRequest
from radreview.roles import PERM_IMPORT


@require_http_methods(["GET", "POST"])
@permission_required(PERM_IMPORT, raise_exception=True)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        modality = data["modality"].code if data["modality"] else None
        job = import_job_create(
            upload=data["file"],
            source=data["source"],
            fmt=data["fmt"],
            on_duplicate=data["on_duplicate"],
            default_modality=modality,
            user=request.user,
        )
        job_enqueue(job=job, task=import_reports_task)
        return redirect("annotations:import_status", job_id=job.pk)
    return render(request, "annotations/import_upload.html", {"form": form})


@require_http_methods(["GET"])
@permission_required(PERM_IMPORT, raise_exception=True)
def import_status(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """The page, or (to htmx polling) the status panel alone."""
    job = get_object_or_404(Job, pk=job_id, kind=Job.Kind.IMPORT)
    template = "annotations/import_status.html"
    context = {"job": job, "standing": queue_standing(job=job, now=timezone.now())}
    return render(request, f"{template}#import-status" if request.htmx else template, context)


@require_POST
@permission_required(PERM_IMPORT, raise_exception=True)
def import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=job_id, kind=Job.Kind.IMPORT)
    job_cancel(job=job)
    return redirect("annotations:import_status", job_id=job.pk)


# -- labels a site already has (services.label_import) -------------------------------------


@require_http_methods(["GET", "POST"])
@permission_required(PERM_IMPORT, raise_exception=True)
def label_import_upload(request: HttpRequest) -> HttpResponse:
    """Upload a label file; its type and encoding are checked here, before a job exists."""
    form = LabelImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = label_import_job_create(
            upload=data["file"],
            source=data["source"],
            label_source=data["label_source"],
            fmt=data["fmt"],
            user=request.user,
        )
        job_enqueue(job=job, task=import_labels_task)
        return redirect("annotations:label_import_status", job_id=job.pk)
    status = 400 if form.errors else 200
    return render(request, "annotations/label_import_upload.html", {"form": form}, status=status)


@require_http_methods(["GET"])
@permission_required(PERM_IMPORT, raise_exception=True)
def label_import_status(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """The page, or (to htmx polling) the status panel alone."""
    job = get_object_or_404(Job, pk=job_id, kind=Job.Kind.IMPORT, params__what="labels")
    template = "annotations/label_import_status.html"
    context = {"job": job, "standing": queue_standing(job=job, now=timezone.now())}
    return render(request, f"{template}#label-import-status" if request.htmx else template, context)

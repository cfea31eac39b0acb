"""Stage 2 screens for admins: start a relationship-mapping run over a cohort and
watch it; see which LLM is configured and test the connection."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations.models import Modality
from inference.ml.llm.backends import LLMError
from inference.ml.questions import QUESTION_LABELS
from inference.services.questions import question_choose, question_rows
from inference.services.stage2 import (
    Cohort,
    Stage2Error,
    mode_choices,
    mode_refusal,
    stage2_job_create,
    stage2_runs,
)
from inference.services.stage2_backend import llm_summary, llm_test_connection
from inference.tasks.stage2 import stage2_batch_task
from jobs.services import job_enqueue
from radreview.bounds import ID_MAX
from radreview.roles import PERM_RUN_JOBS

RUNS_TEMPLATE = "inference/stage2_runs.html"
PERM_CHOOSE_QUESTIONS = "inference.change_llmquestiontype"  # admins (inference.*)
_CHOICES: dict[str, bool | None] = {"ask": True, "skip": False, "measured": None}


class Stage2RunForm(forms.Form):
    modality = forms.ModelChoiceField(queryset=Modality.objects.all(), to_field_name="code", empty_label=None)
    # Choices: the stage 2 mode registry's, set per form (the registry fills at start-up).
    mode = forms.ChoiceField(choices=[], widget=forms.RadioSelect, initial="llm_hint")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    patient_ids = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Patient ids, separated by spaces, commas or lines (empty: all patients).",
    )
    report_ids = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Report ids (numbers) to restrict the run to (empty: all matching reports).",
    )
    only_missing = forms.BooleanField(
        required=False, initial=True, label="Only reports this configuration has not mapped yet"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mode = self.fields["mode"]
        assert isinstance(mode, forms.ChoiceField)
        mode.choices = mode_choices()

    def clean_patient_ids(self) -> list[str]:
        return _split(self.cleaned_data["patient_ids"])

    def clean_report_ids(self) -> list[int]:
        values = _split(self.cleaned_data["report_ids"])
        bad = [v for v in values if not v.isdigit() or int(v) > ID_MAX]
        if bad:
            raise forms.ValidationError(f"not report ids: {', '.join(bad[:5])}")
        return [int(v) for v in values]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        refusal = data.get("modality") and mode_refusal(data.get("mode", ""), data["modality"])
        if refusal:
            self.add_error("mode", refusal)
        return data

    def cohort(self) -> Cohort:
        d = self.cleaned_data
        return Cohort(
            modality=d["modality"].code,
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
            patient_ids=tuple(d.get("patient_ids") or ()),
            report_ids=tuple(d.get("report_ids") or ()),
            only_missing=bool(d.get("only_missing")),
        )


def _split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


@require_http_methods(["GET", "POST"])
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def stage2_start(request: HttpRequest) -> HttpResponse:
    form = Stage2RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = stage2_job_create(cohort=form.cohort(), mode=form.cleaned_data["mode"], user=request.user)
        except (Stage2Error, LLMError) as exc:
            # LLMConfigError lands here: the admin sees what to fix, not a stack trace.
            form.add_error(None, str(exc))
        else:
            job_enqueue(job=job, task=stage2_batch_task)
            messages.success(request, f"Started: {job.title}.")
            return redirect("inference:stage2_start")
    context = {"form": form, "llm": llm_summary(), **_runs()}
    return render(request, RUNS_TEMPLATE, context, status=400 if form.errors else 200)


@require_GET
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def stage2_runs_fragment(request: HttpRequest) -> HttpResponse:
    """The runs table, polled by htmx while a run is going."""
    return render(request, f"{RUNS_TEMPLATE}#stage2-runs", _runs())


def _runs() -> dict[str, Any]:
    runs = stage2_runs()
    return {"runs": runs, "running": any(not job.is_finished for job in runs)}


@require_http_methods(["GET", "POST"])
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def llm_status(request: HttpRequest) -> HttpResponse:
    """The configured LLM (name, backend, context size, where it is) and a connection test."""
    test = None
    if request.method == "POST":
        # Loads the model on first use (seconds for the 1.5B default) and asks for {"ok": true}.
        test = llm_test_connection()
    return render(
        request,
        "inference/llm_status.html",
        {
            "llm": llm_summary(),
            "test": test,
            "questions": question_rows(),
            "can_choose": request.user.has_perm(PERM_CHOOSE_QUESTIONS),
        },
    )


@require_POST
@permission_required(PERM_CHOOSE_QUESTIONS, raise_exception=True)
def llm_question_choose(request: HttpRequest, code: str) -> HttpResponse:
    """An admin asks or stops asking one type of LLM question, or hands it back to the
    measurement ("choice": ask | skip | measured)."""
    choice = request.POST.get("choice", "")
    if choice not in _CHOICES:
        return HttpResponseBadRequest("choice must be ask, skip or measured")
    try:
        row = question_choose(code=code, asked=_CHOICES[choice], user=request.user)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    messages.success(
        request,
        f"{QUESTION_LABELS[code]}: {'asked' if row.asked else 'not asked'} ({row.get_set_by_display()}).",
    )
    return redirect(reverse("inference:llm_status") + "#llm-questions")

"""Stage 2 screens for admins: start a relationship-mapping run over a cohort chosen
by filters (source, import, dates, patients, stage 1, not yet mapped) with its size
counted as the filters change, and watch it; see which LLM is configured and test
the connection."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations.models import Modality, Report
from inference.ml.llm.backends import LLMError
from inference.ml.questions import QUESTION_LABELS
from inference.services.questions import question_choose, question_rows
from inference.services.stage2 import (
    STAGE1_ANY,
    STAGE1_WITH,
    STAGE1_WITHOUT,
    Cohort,
    Stage2Error,
    Stage2HintMissing,
    cohort_reports,
    hint_shortfall,
    mode_choices,
    mode_refusal,
    stage2_job_create,
    stage2_plan,
    stage2_runs,
)
from inference.services.stage2_backend import llm_summary, llm_test_connection
from inference.services.stage2_modes.registry import stage2_mode_get
from inference.tasks.stage2 import stage2_batch_task
from jobs.models import Job
from jobs.services import job_enqueue
from radreview.roles import PERM_RUN_JOBS

RUNS_TEMPLATE = "inference/stage2_runs.html"
PERM_CHOOSE_QUESTIONS = "inference.change_llmquestiontype"  # admins (inference.*)
_CHOICES: dict[str, bool | None] = {"ask": True, "skip": False, "measured": None}


STAGE1_CHOICES = [
    (STAGE1_ANY, "With or without stage 1 predictions"),
    (STAGE1_WITH, "Has stage 1 predictions (the active model's)"),
    (STAGE1_WITHOUT, "No stage 1 prediction yet"),
]
IMPORTS_SHOWN = 30


class Stage2RunForm(forms.Form):
    """Which reports (by filters, never by internal ids) and how. A form with errors
    is shown again with every choice the admin made."""

    modality = forms.ModelChoiceField(queryset=Modality.objects.all(), to_field_name="code", empty_label=None)
    # Choices: the stage 2 mode registry's, set per form (the registry fills at start-up).
    mode = forms.ChoiceField(choices=[], widget=forms.RadioSelect, initial="llm_hint")
    source = forms.ChoiceField(required=False, choices=[], label="Source")
    import_job = forms.ChoiceField(required=False, choices=[], label="Import")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    patient_ids = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Patients",
        help_text="Patient ids, separated by spaces, commas or lines (empty: all patients).",
    )
    stage1 = forms.ChoiceField(required=False, choices=STAGE1_CHOICES, label="Stage 1")
    only_missing = forms.BooleanField(
        required=False, initial=True, label="Only reports this configuration has not mapped yet"
    )
    without_hint = forms.BooleanField(
        required=False,
        label='"With hint": map the reports stage 1 has not predicted without a hint',
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choice(self, "mode").choices = mode_choices()
        sources = Report.objects.current().order_by("source").values_list("source", flat=True).distinct()
        _choice(self, "source").choices = [("", "Every source"), *((s, s) for s in sources)]
        imports = Job.objects.filter(kind=Job.Kind.IMPORT).order_by("-pk")[:IMPORTS_SHOWN]
        _choice(self, "import_job").choices = [
            ("", "Every import"),
            *((str(j.pk), f"#{j.pk} {j.title} ({j.created_at:%Y-%m-%d})") for j in imports),
        ]

    def clean_patient_ids(self) -> list[str]:
        return _split(self.cleaned_data["patient_ids"])

    def clean_import_job(self) -> int | None:
        value = self.cleaned_data.get("import_job")
        return int(value) if value else None

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
            only_missing=bool(d.get("only_missing")),
            source=d.get("source") or "",
            import_job=d.get("import_job"),
            stage1=d.get("stage1") or STAGE1_ANY,
        )


def _choice(form: forms.Form, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


def _split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


@require_http_methods(["GET", "POST"])
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def stage2_start(request: HttpRequest) -> HttpResponse:
    form = Stage2RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = stage2_job_create(
                cohort=form.cohort(),
                mode=form.cleaned_data["mode"],
                user=request.user,
                without_hint=form.cleaned_data["without_hint"],
            )
        except Stage2HintMissing as exc:
            form.add_error("without_hint", str(exc))
        except (Stage2Error, LLMError) as exc:
            # LLMConfigError lands here: the admin sees what to fix, not a stack trace.
            form.add_error(None, str(exc))
        else:
            job_enqueue(job=job, task=stage2_batch_task)
            messages.success(request, f"Started: {job.title}.")
            return redirect("inference:stage2_start")
    context = {"form": form, "llm": llm_summary(), "count": _count(form), **_runs()}
    return render(request, RUNS_TEMPLATE, context, status=400 if form.errors else 200)


@require_POST
@permission_required(PERM_RUN_JOBS, raise_exception=True)
def stage2_count(request: HttpRequest) -> HttpResponse:
    """How many reports the form's filters select, as the admin changes them (htmx; a
    POST, so patient ids stay out of URLs and logs)."""
    return render(request, f"{RUNS_TEMPLATE}#stage2-count", {"count": _count(Stage2RunForm(request.POST))})


def _count(form: Stage2RunForm) -> dict[str, Any] | None:
    """The selection's size, how many are not mapped yet by this configuration, and how
    many have no stage 1 prediction (what "with hint" would map without one)."""
    if not form.is_bound:  # the page as it opens: the form's first choices
        modality = Modality.objects.first()
        if modality is None:
            return None
        form = Stage2RunForm({"modality": modality.code, "mode": form["mode"].initial, "only_missing": "on"})
    if not form.is_valid():
        return None
    cohort = form.cohort()
    count: dict[str, Any] = {"total": cohort_reports(cohort).count(), "unmapped": None}
    try:
        run = stage2_plan(modality=form.cleaned_data["modality"], mode=form.cleaned_data["mode"])
    except (Stage2Error, LLMError):
        run = None  # the start says why; the count still counts
    if run is not None and cohort.only_missing:
        count["unmapped"] = cohort_reports(cohort, run_key=run.run_key).count()
    if stage2_mode_get(form.cleaned_data["mode"]).wants_hint:
        count["without_hint"], _ = hint_shortfall(cohort, run_key=run.run_key if run else "")
    return count


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

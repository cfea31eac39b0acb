"""The review screen: report and findings side by side, decisions through htmx.

Every decision swaps #review-main (both columns, so new evidence highlights
appear); when the last pending finding is decided the next report of the
queue opens (HX-Redirect). Without JavaScript the same forms post and redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotations.models import Report
from inference.models import Stage1Prediction, Stage2Prediction
from inference.services.stage2_modes.registry import stage2_no_prompt_note
from radreview.http import HtmxHttpRequest
from review import labels, selectors, services
from review.models import ReviewFinding, ReviewReport
from review.page import add_prefill, review_page
from review.permissions import can_view_history, review_required

TEMPLATE = "review/review.html"


def _review(report_id: int) -> ReviewReport:
    review = selectors.review_for_report(report_id=report_id)
    if review is None:
        raise Http404("This report has no AI findings to review yet.")
    return review


def _render(
    request: HtmxHttpRequest,
    review: ReviewReport,
    *,
    error: str = "",
    notice: str = "",
    focus: int | None = None,
    status: int = 200,
) -> HttpResponse:
    holder = services.lease_acquire(review=review, user=request.user)
    page = review_page(
        review=review,
        findings=selectors.review_findings(review=review),
        editable=holder is None and review.report.superseded_at is None,
        holder=holder,
    )
    context = {
        "page": page,
        "review": review,
        "report": review.report,
        "error": error,
        "notice": notice,
        "focus": focus,
    }
    template = f"{TEMPLATE}#review-main" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_GET
@review_required
def review(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    return _render(request, _review(report_id))


def _act(request: HtmxHttpRequest, report_id: int, change: Callable[[ReviewReport], Any]) -> HttpResponse:
    """Run one decision; `change` returns the finding to focus next, or a
    BulkResult whose message the page shows."""
    review = _review(report_id)
    error, notice, focus = "", "", None
    try:
        outcome = change(review)
        if isinstance(outcome, services.BulkResult):
            notice = outcome.message
        else:
            focus = outcome
    except services.ReviewConflict as exc:
        error = str(exc)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    except ReviewFinding.DoesNotExist:
        error = "That finding no longer exists; reload the report."
    review = _review(report_id)  # one query with its relations (refresh_from_db would drop them)
    if not error and review.status == ReviewReport.Status.VERIFIED:
        if notice:
            messages.info(request, notice)
        return _next(request, review)
    if not request.htmx:
        if error:
            messages.error(request, error)
        if notice:
            messages.info(request, notice)
        return redirect("review:review", report_id=report_id)
    # 200 with the message in the page: htmx swaps no 4xx answer by default.
    return _render(request, review, error=error, notice=notice, focus=focus)


def _next(request: HtmxHttpRequest, review: ReviewReport) -> HttpResponse:
    """The report is verified: open the next one of the queue (or the queue)."""
    following = selectors.next_in_queue(user=request.user, after=review)
    messages.success(request, f"Report {review.report.external_id} verified.")
    url = reverse("review:review", args=[following.report_id]) if following else reverse("review:queue")
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _flag(value: str | None) -> bool:
    return value in ("1", "true", "on", "yes")


def _version(data: Any) -> int:
    version = _int(data.get("version"))
    if version is None:
        raise ValidationError("The form is missing the finding version; reload the report.")
    return version


def _list(request: HtmxHttpRequest, name: str) -> list[str] | None:
    """A multi-value field; None when the form did not carry it at all."""
    if name not in request.POST and f"{name}__present" not in request.POST:
        return None
    return [v for v in request.POST.getlist(name) if v]


@require_POST
@review_required
def decide(request: HtmxHttpRequest, report_id: int, finding_id: int) -> HttpResponse:
    data = request.POST

    def change(review: ReviewReport) -> int:
        if not review.findings.filter(pk=finding_id).exists():
            raise ReviewFinding.DoesNotExist
        services.finding_decide(
            finding_id=finding_id,
            user=request.user,
            action=data.get("action", ""),
            version=_version(data),
            reason_code=data.get("reason_code", ""),
            comment=data.get("comment", ""),
            key=data.get("key") or None,
            locations=_list(request, "locations"),
            episode=data.get("episode") if "episode" in data else None,
            details=_list(request, "details"),
            confirm=_flag(data.get("confirm")),
            start=_int(data.get("start")),
            end=_int(data.get("end")),
        )
        return finding_id

    return _act(request, report_id, change)


@require_POST
@review_required
def undo(request: HtmxHttpRequest, report_id: int, finding_id: int) -> HttpResponse:
    def change(review: ReviewReport) -> int:
        if not review.findings.filter(pk=finding_id).exists():
            raise ReviewFinding.DoesNotExist
        services.finding_undo(finding_id=finding_id, user=request.user, version=_version(request.POST))
        return finding_id

    return _act(request, report_id, change)


def _selection(request: HtmxHttpRequest) -> dict[int, int]:
    """The bulk form's `ids` values, "finding id:version" each."""
    out: dict[int, int] = {}
    for value in request.POST.getlist("ids"):
        pk, _, version = value.partition(":")
        pk_i, version_i = _int(pk), _int(version)
        if pk_i is None or version_i is None:
            raise ValidationError("The selection is malformed; reload the report.")
        out[pk_i] = version_i
    return out


@require_POST
@review_required
def bulk(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    data = request.POST

    def change(review: ReviewReport) -> services.BulkResult:
        return services.findings_bulk_decide(
            review_id=review.pk,
            user=request.user,
            action=data.get("action", ""),
            versions=_selection(request),
            reason_code=data.get("reason_code", ""),
            comment=data.get("comment", ""),
        )

    return _act(request, report_id, change)


@require_GET
@review_required
def add_form(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    """The add form pre-filled from the selected span: its finding key and
    locations as the modality's lexicon reads them (review.page.add_prefill)."""
    review = _review(report_id)
    start, end = _int(request.GET.get("start")), _int(request.GET.get("end"))
    text = review.report.text
    if start is None or end is None or not 0 <= start < end <= len(text):
        return HttpResponse("Select the text again.", status=400, content_type="text/plain")
    prefill = add_prefill(review=review, start=start, end=end)
    context = {"add": prefill, "report": review.report}
    return render(request, f"{TEMPLATE}#add-form", context)


@require_POST
@review_required
def add(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    data = request.POST

    def change(review: ReviewReport) -> int:
        finding = services.finding_add(
            review_id=review.pk,
            user=request.user,
            key=data.get("key", ""),
            locations=_list(request, "locations") or [],
            episode=data.get("episode", ""),
            details=_list(request, "details") or [],
            start=_int(data.get("start")),
            end=_int(data.get("end")),
            comment=data.get("comment", ""),
        )
        return finding.pk

    return _act(request, report_id, change)


@require_POST
@review_required
def grid_toggle(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    data = request.POST

    def change(review: ReviewReport) -> int:
        finding = services.grid_toggle(
            review_id=review.pk,
            user=request.user,
            lesion=data.get("lesion", ""),
            location=data.get("location", ""),
            version=_int(data.get("version")),
            start=_int(data.get("start")),
            end=_int(data.get("end")),
        )
        return finding.pk

    return _act(request, report_id, change)


@require_POST
@review_required
def confirm_none(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    def change(review: ReviewReport) -> None:
        services.report_confirm_no_findings(review_id=review.pk, user=request.user)

    return _act(request, report_id, change)


@require_GET
@review_required
def provenance(request: HtmxHttpRequest, report_id: int, finding_id: int) -> HttpResponse:
    """The chain behind one finding: stage 1 keys and probabilities, the exact
    prompt, the raw LLM output and the parsed result."""
    finding = get_object_or_404(ReviewFinding, pk=finding_id, report_id=report_id)
    stage1_id, stage2_id = finding.stage1_prediction_id, finding.stage2_prediction_id
    stage1 = (
        Stage1Prediction.objects.select_related("model_version").filter(pk=stage1_id).first()
        if stage1_id is not None
        else None
    )
    stage2 = Stage2Prediction.objects.filter(pk=stage2_id).first() if stage2_id is not None else None
    probabilities = []
    if stage1 is not None:
        thresholds = stage1.model_version.thresholds or {}
        predicted = set(stage1.predicted_keys or [])
        probabilities = [
            (key, p, thresholds.get(key), key in predicted)
            for key, p in sorted((stage1.probabilities or {}).items(), key=lambda kv: -float(kv[1]))
        ]
    context = {
        "finding": finding,
        "stage1": stage1,
        "stage2": stage2,
        "no_prompt_note": stage2_no_prompt_note(stage2.mode) if stage2 else "",
        "probabilities": probabilities,
    }
    return render(request, "review/partials/provenance.html", context)


@require_GET
@review_required
def timeline(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    """The patient's prior reports with their verified episodes (brain MRI)."""
    report = get_object_or_404(Report.objects.select_related("modality"), pk=report_id)
    prior = selectors.patient_timeline(report=report)
    episodes = labels.verified_episodes([r.pk for r in prior])
    statuses = dict(ReviewReport.objects.filter(report__in=prior).values_list("report_id", "status"))
    rows = [(r, episodes.get(r.pk, {}), statuses.get(r.pk, "")) for r in prior]
    return render(request, "review/partials/timeline.html", {"report": report, "rows": rows})


@require_GET
def history(request: HtmxHttpRequest, report_id: int) -> HttpResponse:
    """Every decision on the report, oldest first (clinicians and admins)."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    if not can_view_history(request.user):
        raise PermissionDenied
    report = get_object_or_404(Report.objects.select_related("modality"), pk=report_id)
    context = {
        "report": report,
        "review": selectors.review_for_report(report_id=report_id),
        "decisions": selectors.report_history(report_id=report_id),
    }
    return render(request, "review/history.html", context)

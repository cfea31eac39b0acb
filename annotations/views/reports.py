"""Browsing imported reports (admins), and correcting one as a new revision.
Report text is rendered escaped. The list's filters are a form POST that
redirects to ?f=<token> (radreview.private_query): no patient id in a URL."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations import selectors
from annotations.forms import ReviseForm
from annotations.highlight import Span, segments
from annotations.models import Mention, Modality, Report
from annotations.services.revisions import report_revise
from radreview.private_query import FILTER_PARAM, filters_query, filters_save, link_query
from radreview.roles import PERM_IMPORT

SCOPE = "report_list"


@require_http_methods(["GET", "POST"])
@permission_required(PERM_IMPORT, raise_exception=True)
def report_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        token = filters_save(request, scope=SCOPE, data=request.POST)
        return redirect(f"{reverse('annotations:report_list')}?{FILTER_PARAM}={token}")
    query, token = filters_query(request, scope=SCOPE)
    filters = {k: query.get(k, "").strip() for k in ("modality", "source", "patient_id")}
    paginator = Paginator(selectors.report_list(**filters), 50)
    # Counting 100k+ rows on every page view costs more than the page; show "next" instead.
    page = paginator.get_page(query.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "modalities": Modality.objects.all(),
        "query": link_query(request, token, drop=("page",)),
    }
    return render(request, "annotations/report_list.html", context)


@require_GET
@permission_required(PERM_IMPORT, raise_exception=True)
def report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    report = get_object_or_404(Report.objects.select_related("modality"), pk=report_id)
    return _render_detail(request, report, ReviseForm(initial={"text": report.text}))


@require_POST
@permission_required(PERM_IMPORT, raise_exception=True)
def report_revise_view(request: HttpRequest, report_id: int) -> HttpResponse:
    report = get_object_or_404(Report.objects.select_related("modality"), pk=report_id)
    form = ReviseForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            new = report_revise(
                report=report, new_text=data["text"], user=request.user, reason=data["reason"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Stored as report #{new.pk}; report #{report.pk} is superseded.")
            return redirect("annotations:report_detail", report_id=new.pk)
    return _render_detail(request, report, form, status=400)


def _render_detail(request: HttpRequest, report: Report, form: ReviseForm, status: int = 200) -> HttpResponse:
    gold = selectors.report_gold_assignment(report=report)
    mentions = list(selectors.assignment_mentions(assignment=gold)) if gold else []
    spans = [_mention_span(m) for m in mentions]
    context = {
        "report": report,
        "gold": gold,
        "mentions": mentions,
        "segments": segments(report.text, spans),
        "revise_form": form,
    }
    return render(request, "annotations/report_detail.html", context, status=status)


def _mention_span(mention: Mention) -> Span:
    flags = [f for f, on in (("negated", mention.negated), ("uncertain", mention.uncertain)) if on]
    css = " ".join([f"ent-{mention.key.entity_type.role}", *flags])
    title = mention.key.name + "".join(f" ({f})" for f in flags)
    return Span(mention.start, mention.end, css, title)

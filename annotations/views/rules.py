"""The rules page (admins): the rule engine's assertion triggers and word lists,
defaults and site additions, with search, filters and pages (annotations.filters),
add and switch-off. Changes bump the schema version (annotations.services.rules)."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from annotations import filters, selectors
from annotations.filters import RuleFilterForm
from annotations.models import AssertionTrigger, Modality, RuleEntry
from annotations.services import rules as rule_services
from radreview.http import HtmxHttpRequest
from radreview.roles import PERM_MANAGE_SCHEMA

TEMPLATE = "annotations/rules.html"


@require_GET
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def rules_page(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(request))


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def trigger_add(request: HtmxHttpRequest) -> HttpResponse:
    window_text = request.POST.get("window", "").strip()
    errors: dict[str, list[str]] = {}
    window = None
    if window_text:
        if window_text.isdigit():
            window = int(window_text)
        else:
            errors = {"window": ["A window is a whole number of words."]}
    if not errors:
        try:
            rule_services.trigger_create(
                phrase=request.POST.get("phrase", ""),
                category=request.POST.get("category", ""),
                direction=request.POST.get("direction", ""),
                window=window,
                user=request.user,
            )
        except ValidationError as exc:
            errors = exc.message_dict
    status = 400 if errors and not request.htmx else 200
    return render(request, TEMPLATE, _context(request, trigger_errors=errors), status=status)


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def trigger_toggle(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = get_object_or_404(AssertionTrigger, pk=trigger_id)
    rule_services.trigger_set_active(trigger=trigger, active=not trigger.is_active)
    return render(request, TEMPLATE, _context(request))


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def entry_add(request: HtmxHttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    try:
        rule_services.entry_create(
            kind=request.POST.get("kind", ""),
            group=request.POST.get("group", ""),
            text=request.POST.get("text", ""),
            value=request.POST.get("value", ""),
            user=request.user,
        )
    except ValidationError as exc:
        errors = exc.message_dict
    status = 400 if errors and not request.htmx else 200
    return render(request, TEMPLATE, _context(request, entry_errors=errors), status=status)


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def entry_toggle(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(RuleEntry, pk=entry_id)
    rule_services.entry_set_active(entry=entry, active=not entry.is_active)
    return render(request, TEMPLATE, _context(request))


def _context(request: HttpRequest, **extra: object) -> dict[str, object]:
    """The page with the admin's search and filters: from the query string, or, after an
    add or a switch, from the "filters" field the form carried (the page stays as it was)."""
    data = request.GET if request.method == "GET" else QueryDict(request.POST.get("filters", ""))
    form = RuleFilterForm(data)
    values = form.values()
    triggers = Paginator(filters.trigger_rows(values), filters.PAGE_SIZE).get_page(data.get("page"))
    query = urlencode({k: v for k, v in values.items() if v})
    return {
        "filter_form": form,
        "filtered": form.is_filtered(),
        "triggers": triggers,
        "trigger_total": AssertionTrigger.objects.count(),
        "query": query,
        "this_page": f"{query}&page={triggers.number}" if query else f"page={triggers.number}",
        "categories": AssertionTrigger.Category.choices,
        "directions": AssertionTrigger.Direction.choices,
        "entries": filters.entry_rows(values),
        "kinds": RuleEntry.Kind.choices,
        "modalities": Modality.objects.all(),
        # Cached per rules version (the page only names it): building the rules anew on
        # every view was most of the page's time.
        "ruleset": selectors.site_ruleset(),
        **extra,
    }

"""The rules page (admins): the rule engine's assertion triggers and word lists,
defaults and site additions, with add and switch-off. Changes bump the schema
version (annotations.services.rules)."""

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from annotations import selectors
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
    category = request.GET.get("category") or request.POST.get("show") or ""
    triggers = AssertionTrigger.objects.select_related("created_by")
    if category in AssertionTrigger.Category.values:
        triggers = triggers.filter(category=category)
    return {
        "triggers": triggers,
        "category": category,
        "categories": AssertionTrigger.Category.choices,
        "directions": AssertionTrigger.Direction.choices,
        "entries": RuleEntry.objects.select_related("created_by"),
        "kinds": RuleEntry.Kind.choices,
        "modalities": Modality.objects.all(),
        "ruleset": selectors.ruleset_from_db(),
        **extra,
    }

"""The entity-value manager (admins): per key, its keywords and regexes with how
many reports each matches, who added it; add, edit, delete with regex
validation and a live preview of matches; a search over the modality's values
(annotations.filters). htmx swaps the key panel."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotations import filters, selectors
from annotations.filters import ValueFilterForm
from annotations.forms import EntityValueForm
from annotations.models import EntityKey, EntityValue, Modality
from annotations.services import values as value_services
from radreview.http import HtmxHttpRequest
from radreview.roles import PERM_MANAGE_SCHEMA

TEMPLATE = "annotations/values.html"


@require_GET
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def value_manager(request: HtmxHttpRequest) -> HttpResponse:
    modality = (
        Modality.objects.filter(code=request.GET.get("modality", "")).first() or Modality.objects.first()
    )
    keys = list(selectors.modality_key_summaries(modality=modality)) if modality else []
    key = next((k for k in keys if str(k.pk) == request.GET.get("key")), keys[0] if keys else None)
    context = {"modalities": Modality.objects.all(), "modality": modality, "keys": keys, **_panel(key)}
    context |= _search(request, modality, keys)
    return render(request, TEMPLATE, context)


def _search(request: HtmxHttpRequest, modality: Modality | None, keys: list[EntityKey]) -> dict[str, object]:
    """The search box and filters: with any set, the matching values of the modality
    (a page of them) take the key panel's place and the index keeps the keys they belong to."""
    form = ValueFilterForm(request.GET, modality=modality)
    if modality is None or not form.is_filtered():
        return {"filter_form": form, "filtered": False}
    values = form.values()
    matches = Paginator(filters.value_rows(modality=modality, values=values), filters.PAGE_SIZE)
    page = matches.get_page(request.GET.get("page"))
    matched_keys = set(
        filters.value_rows(modality=modality, values=values).values_list("key_id", flat=True).distinct()
    )
    query = urlencode({"modality": modality.code, **{k: v for k, v in values.items() if v}})
    return {
        "filter_form": form,
        "filtered": True,
        "matches": page,
        "query": query,
        "keys": [k for k in keys if k.pk in matched_keys],
    }


@require_GET
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def key_panel(request: HtmxHttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(EntityKey.objects.select_related("entity_type__modality"), pk=key_id)
    return _render_panel(request, key)


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def value_add(request: HtmxHttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(EntityKey.objects.select_related("entity_type__modality"), pk=key_id)
    form = EntityValueForm(request.POST)
    if form.is_valid():
        try:
            value_services.entity_value_create(key=key, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _to_form(form, exc)
        else:
            return _render_panel(request, key)
    return _render_panel(request, key, form=form, status=200 if request.htmx else 400)


@require_http_methods(["GET", "POST"])
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def value_edit(request: HtmxHttpRequest, value_id: int) -> HttpResponse:
    value = get_object_or_404(EntityValue.objects.select_related("key__entity_type__modality"), pk=value_id)
    initial = {"text": value.text, "kind": value.kind, "case_sensitive": value.case_sensitive}
    form = EntityValueForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            value_services.entity_value_update(value=value, **form.cleaned_data)
        except ValidationError as exc:
            _to_form(form, exc)
        else:
            return _render_panel(request, value.key)
    status = 400 if request.method == "POST" and not request.htmx else 200
    return _render_panel(request, value.key, editing=value, edit_form=form, status=status)


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def value_delete(request: HtmxHttpRequest, value_id: int) -> HttpResponse:
    value = get_object_or_404(EntityValue.objects.select_related("key__entity_type__modality"), pk=value_id)
    key = value.key
    value_services.entity_value_delete(value=value)
    return _render_panel(request, key)


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def value_count(request: HtmxHttpRequest, value_id: int) -> HttpResponse:
    value = get_object_or_404(EntityValue.objects.select_related("key__entity_type__modality"), pk=value_id)
    value_services.entity_value_count(value=value)
    return _render_panel(request, value.key)


@require_POST
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def key_count(request: HtmxHttpRequest, key_id: int) -> HttpResponse:
    """Count every value of one key (one corpus pass per value: a key's handful)."""
    key = get_object_or_404(EntityKey.objects.select_related("entity_type__modality"), pk=key_id)
    for value in key.values.select_related("key"):
        value_services.entity_value_count(value=value)
    return _render_panel(request, key)


@require_GET
@permission_required(PERM_MANAGE_SCHEMA, raise_exception=True)
def value_preview(request: HtmxHttpRequest) -> HttpResponse:
    """Where the value being typed would match (htmx, on input)."""
    modality = get_object_or_404(Modality, code=request.GET.get("modality", ""))
    context: dict[str, object] = {"modality": modality}
    try:
        context["preview"] = value_services.entity_value_preview(
            modality=modality,
            text=request.GET.get("text", ""),
            kind=request.GET.get("kind", "keyword"),
            case_sensitive=request.GET.get("case_sensitive") in ("on", "true", "1"),
        )
    except ValidationError as exc:
        context["preview_error"] = " ".join(exc.messages)
    return render(request, f"{TEMPLATE}#value-preview", context)


def _panel(key: EntityKey | None, **extra: object) -> dict[str, object]:
    if key is None:
        return {"key": None}
    return {
        "key": key,
        "values": list(selectors.key_value_rows(key=key)),
        "form": extra.pop("form", None) or EntityValueForm(),
        **extra,
    }


def _render_panel(
    request: HtmxHttpRequest, key: EntityKey, status: int = 200, **extra: object
) -> HttpResponse:
    if not request.htmx and request.method == "POST" and status == 200:
        query = urlencode({"modality": key.entity_type.modality.code, "key": key.pk})
        return redirect(f"{reverse('annotations:values')}?{query}")
    context = {"modality": key.entity_type.modality, **_panel(key, **extra)}
    if request.htmx:
        return render(request, f"{TEMPLATE}#key-panel", context, status=status)
    modality = key.entity_type.modality
    context.update(
        modalities=Modality.objects.all(),
        keys=list(selectors.modality_key_summaries(modality=modality)),
        filter_form=ValueFilterForm(modality=modality),
        filtered=False,
    )
    return render(request, TEMPLATE, context, status=status)


def _to_form(form: EntityValueForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)

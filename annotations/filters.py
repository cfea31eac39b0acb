"""Search and filters of the rules page and the entity-value manager: a GET form each
(works without JavaScript; htmx submits it as the admin types), read into a queryset."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from annotations.models import AssertionTrigger, EntityType, EntityValue, Modality, RuleEntry

PAGE_SIZE = 50
STATE_CHOICES = [("", "Any state"), ("on", "On"), ("off", "Switched off")]
ORIGIN_CHOICES = [("", "Defaults and additions"), ("default", "Defaults"), ("site", "Site additions")]


class _FilterForm(forms.Form):
    """A filter form never fails: a value that is not a choice is dropped (the filter
    is off), so a stale or hand-edited link still shows the page."""

    def values(self) -> dict[str, Any]:
        self.is_valid()  # cleaned_data then holds the fields that are valid
        return {name: self.cleaned_data.get(name, "") for name in self.fields}

    def is_filtered(self) -> bool:
        return any(self.values().values())


class RuleFilterForm(_FilterForm):
    q = forms.CharField(required=False, max_length=200, label="Search")
    category = forms.ChoiceField(
        required=False, choices=[("", "Any category"), *AssertionTrigger.Category.choices]
    )
    direction = forms.ChoiceField(
        required=False, choices=[("", "Any direction"), *AssertionTrigger.Direction.choices]
    )
    kind = forms.ChoiceField(required=False, choices=[("", "Every word list"), *RuleEntry.Kind.choices])
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES)
    origin = forms.ChoiceField(required=False, choices=ORIGIN_CHOICES)


def _state_origin(rows: QuerySet[Any], values: dict[str, Any]) -> QuerySet[Any]:
    if values.get("state"):
        rows = rows.filter(is_active=values["state"] == "on")
    if values.get("origin"):
        rows = rows.filter(is_default=values["origin"] == "default")
    return rows


def trigger_rows(values: dict[str, Any]) -> QuerySet[AssertionTrigger]:
    """The triggers the filters select: the search looks in the phrase."""
    rows = AssertionTrigger.objects.select_related("created_by").order_by("category", "phrase", "pk")
    if values.get("q"):
        rows = rows.filter(phrase__icontains=values["q"].strip())
    if values.get("category"):
        rows = rows.filter(category=values["category"])
    if values.get("direction"):
        rows = rows.filter(direction=values["direction"])
    return _state_origin(rows, values)


def entry_rows(values: dict[str, Any]) -> QuerySet[RuleEntry]:
    """The word-list entries the filters select: the search looks in the word, its
    group and the location key it means. A trigger-only filter (category, direction)
    leaves the word lists as they are."""
    rows = RuleEntry.objects.select_related("created_by").order_by("kind", "group", "text", "pk")
    q = (values.get("q") or "").strip()
    if q:
        rows = rows.filter(Q(text__icontains=q) | Q(group__icontains=q) | Q(value__icontains=q))
    if values.get("kind"):
        rows = rows.filter(kind=values["kind"])
    return _state_origin(rows, values)


class ValueFilterForm(_FilterForm):
    """Search a modality's entity values (the text, or the key's name) by kind and type."""

    q = forms.CharField(required=False, max_length=300, label="Search")
    kind = forms.ChoiceField(
        required=False, choices=[("", "Keywords and regexes"), *EntityValue.Kind.choices]
    )
    entity_type = forms.ChoiceField(required=False, choices=[("", "Every type")], label="Type")

    def __init__(self, *args: Any, modality: Modality | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["entity_type"]
        assert isinstance(field, forms.ChoiceField)
        types = EntityType.objects.filter(modality=modality).order_by("order", "name") if modality else []
        field.choices = [("", "Every type"), *((str(t.pk), t.name) for t in types)]


def value_rows(*, modality: Modality, values: dict[str, Any]) -> QuerySet[EntityValue]:
    rows = (
        EntityValue.objects.filter(key__entity_type__modality=modality)
        .select_related("key__entity_type", "created_by")
        .order_by("key__entity_type__order", "key__order", "key__name", "kind", "text", "pk")
    )
    q = (values.get("q") or "").strip()
    if q:
        rows = rows.filter(Q(text__icontains=q) | Q(key__name__icontains=q))
    if values.get("kind"):
        rows = rows.filter(kind=values["kind"])
    if values.get("entity_type"):
        rows = rows.filter(key__entity_type_id=int(values["entity_type"]))
    return rows

"""Export parameters from a query string (the web form and the API share them)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics.export import DEFAULT_LABELS, FORMATS, LABELS, ExportFilters, ExportSpec
from analytics.export.formats import NOTE_ID_FROM


class LabelList(serializers.ListField):
    """?labels=verified&labels=gold or ?labels=verified,gold."""

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list):  # a JSON number or object: ListField's own 400
            return super().to_internal_value(data)
        split = [part.strip() for item in data if isinstance(item, str) for part in item.split(",")]
        return super().to_internal_value([p for p in split if p] or data)


class ExportParams(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(FORMATS), default="jsonl")
    labels = LabelList(
        child=serializers.ChoiceField(choices=list(LABELS)),
        required=False,
        min_length=1,
        help_text="verified (clinician-confirmed), unverified (model predictions), gold (annotations)",
    )
    modality = serializers.SlugField(required=False, max_length=32)
    patient_id = serializers.CharField(required=False, max_length=100)
    # DRF's metaclass moves declared fields off the class, so this never replaces
    # Field.source; the stubs cannot see that.
    source = serializers.CharField(required=False, max_length=100)  # type: ignore[assignment]
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    note_id = serializers.ChoiceField(
        choices=list(NOTE_ID_FROM),
        default="external_id",
        help_text="OMOP note_id: the report's external id (as imported), or RadReview's report id",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["must not be before date_from"]})
        return attrs

    def spec(self) -> ExportSpec:
        d = self.validated_data
        filters = ExportFilters(
            modality=d.get("modality", ""),
            patient_id=d.get("patient_id", ""),
            source=d.get("source", ""),
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
        )
        labels = tuple(dict.fromkeys(d.get("labels") or DEFAULT_LABELS))
        return ExportSpec(fmt=d["format"], labels=labels, filters=filters, note_id_from=d["note_id"])

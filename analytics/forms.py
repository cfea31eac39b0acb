from typing import Any

from django import forms
from django.conf import settings

from analytics.models import EvaluationRun
from analytics.services.evaluation import available_modes
from annotations.models import Modality
from radreview.uploads import text_upload_check

# The method's comparison, ticked by default: stage 1 alone, the LLM with and without
# its hint, and the same-sentence baseline.
DEFAULT_MODES = ("bert", "llm", "llm_hint", "rules")
GOLD_FILE_SUFFIXES = (".jsonl", ".ndjson", ".json")


class EvaluationStartForm(forms.Form):
    modality = forms.ModelChoiceField(queryset=Modality.objects.order_by("name"), to_field_name="code")
    gold_set = forms.ChoiceField(choices=EvaluationRun.GoldSet.choices, initial=EvaluationRun.GoldSet.HELDOUT)
    gold_file = forms.FileField(
        required=False,
        label="Gold file",
        help_text='JSONL, one report per line with "id", "modality", "text", "gold" (docs/gold-files.md).',
    )
    # Choices: the evaluation registry's, set per form (the registry fills at start-up).
    modes = forms.MultipleChoiceField(
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        help_text="The methods to compare on the same reports.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        is_file = data.get("gold_set") == EvaluationRun.GoldSet.FILE
        if is_file and not data.get("gold_file"):
            self.add_error("gold_file", "Choose the gold file to evaluate on.")
        if data.get("gold_file") and not is_file:
            self.add_error("gold_set", 'Choose "An uploaded gold file" to evaluate on the file.')
        upload = data.get("gold_file")
        if upload is not None and upload.size > settings.IMPORT_MAX_FILE_BYTES:
            self.add_error("gold_file", "The file is larger than this site accepts.")
        elif upload is not None:
            problem = text_upload_check(upload, GOLD_FILE_SUFFIXES)
            if problem:
                self.add_error("gold_file", problem)
        return data

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        modes = available_modes()
        field = self.fields["modes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = list(modes.items())
        field.initial = [m for m in DEFAULT_MODES if m in modes]


class LongitudinalFilterForm(forms.Form):
    min_reports = forms.IntegerField(
        min_value=1, max_value=50, initial=3, required=False, label="Reports per patient ≥"
    )
    single_diagnosis = forms.BooleanField(required=False, initial=True, label="Single diagnosis per patient")
    verified_only = forms.BooleanField(required=False, initial=False, label="Verified episodes only")
    patient = forms.CharField(max_length=100, required=False, label="Patient")

    def filters(self) -> dict:
        """Validated filters, defaults when the form was not submitted (checkbox
        'off' is indistinguishable from 'absent', so a hidden 'applied' marks a submit)."""
        data = self.cleaned_data if self.is_valid() else {}
        applied = bool(self.data.get("applied"))
        return {
            "min_reports": data.get("min_reports") or 3,
            "single_diagnosis": data.get("single_diagnosis", True) if applied else True,
            "verified_only": data.get("verified_only", False) if applied else False,
            "patient": (data.get("patient") or "").strip(),
        }

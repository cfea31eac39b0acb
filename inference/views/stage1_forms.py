"""Forms of the stage 1 model screens (start training, start inference, promote,
roll back). They check input only; the services apply the rules."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from annotations.models import Modality, WeakLabelSet
from inference.services.stage1_data import LABEL_SOURCE_LABELS, WEAK_AUTO, Stage1DataError
from inference.services.stage1_training import (
    DEFAULT_MEMBERS,
    MAX_MEMBERS,
    PRESET_CHOICES,
    checkpoint_check,
)

MAX_PATIENT_IDS = 10_000


class TrainForm(forms.Form):
    modality = forms.ModelChoiceField(queryset=Modality.objects.all(), to_field_name="code")
    preset = forms.ChoiceField(label="Size preset", choices=PRESET_CHOICES, initial="cpu")
    label_sources = forms.ChoiceField(
        label="Label sources", choices=list(LABEL_SOURCE_LABELS.items()), initial="gold_weak"
    )
    weak_mode = forms.ChoiceField(
        label="Weak labels from",
        choices=[
            (WEAK_AUTO, "Rule engine when its labels exist, else keyword + negation"),
            *WeakLabelSet.Mode.choices,
        ],
        initial=WEAK_AUTO,
        help_text="Used when the label sources include weak labels (run weak labelling first).",
    )
    pretrain = forms.BooleanField(
        required=False,
        label="Masked-LM pretraining first, on reports without gold (slower, usually better)",
    )
    morphemes = forms.BooleanField(required=False, label="Morpheme-aware tokenizer for Korean text")
    init_checkpoint = forms.CharField(
        required=False,
        max_length=500,
        label="Starting checkpoint directory",
        help_text="Optional: a local Hugging Face checkpoint (e.g. the site's clinical BERT) on the "
        "server, under the model storage directory. Empty: train from scratch.",
    )
    epochs = forms.IntegerField(
        required=False, min_value=1, max_value=200, help_text="Fine-tuning epochs (default 8)."
    )
    members = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_MEMBERS,
        initial=DEFAULT_MEMBERS,
        label="Cross-fitted members",
        help_text="Models trained on folds of the gold reports and averaged (steadier, "
        "each one more fine-tuning run); 1 trains one model.",
    )

    def clean_members(self) -> int:
        members = self.cleaned_data.get("members")
        return DEFAULT_MEMBERS if members is None else members

    def clean_init_checkpoint(self) -> str:
        value = self.cleaned_data.get("init_checkpoint", "").strip()
        if value:
            try:
                value = str(checkpoint_check(value))
            except Stage1DataError as exc:
                raise forms.ValidationError(str(exc)) from None
        return value


class InferForm(forms.Form):
    modality = forms.ModelChoiceField(
        queryset=Modality.objects.all(),
        to_field_name="code",
        required=False,
        empty_label="Every modality with an active model",
    )
    date_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Studies from"
    )
    date_to = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Studies to"
    )
    patient_ids = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Patient ids",
        help_text="Optional, separated by commas, spaces or new lines. Reports the model already "
        "predicted are skipped, so an empty form predicts everything not yet predicted.",
    )

    def clean_patient_ids(self) -> list[str]:
        ids = [p for p in re.split(r"[\s,;]+", self.cleaned_data.get("patient_ids", "")) if p]
        if len(ids) > MAX_PATIENT_IDS:
            raise forms.ValidationError(f"At most {MAX_PATIENT_IDS} patient ids per run.")
        return list(dict.fromkeys(ids))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with your name in the promotion history.",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class PromoteForm(ReasonForm):
    """Promote with a reason; `confirm_worse=1` is the second step for a version that is
    worse than the active one (services.stage1_registry.promotion_warning)."""

    confirm_worse = forms.BooleanField(required=False, widget=forms.HiddenInput)

"""Forms of the annotations screens."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from annotations.models import Modality, WeakLabelSet
from annotations.selectors import annotators
from annotations.services.assignments import HOW, MAX_PER_REQUEST, SAMPLE
from annotations.services.importing import UPLOAD_SUFFIXES
from annotations.services.label_import import label_upload_problem
from annotations.services.queue_order import ORDERS, RANDOM, UNCERTAINTY, uncertainty_status
from inference.ml.text.matcher import KEYWORD, REGEX, regex_error
from radreview.uploads import text_upload_check

if TYPE_CHECKING:
    from django.contrib.auth.models import User

FORMAT_CHOICES = [
    ("auto", "Detect (by extension and header)"),
    ("csv", "CSV (id, patient_id, study_datetime, modality, text, title)"),
    ("jsonl", "JSONL (one object per line, same keys as CSV)"),
    ("omop", "OMOP CDM NOTE (note_id, person_id, note_date/note_datetime, note_title, note_text)"),
]
DUPLICATE_CHOICES = [
    ("skip", "Skip rows whose id was already imported from this source"),
    ("update", "Update reports whose id was already imported from this source"),
]


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV, JSONL or OMOP NOTE export.")
    source = forms.SlugField(
        max_length=100,
        help_text="The system the reports come from, e.g. hospital-a. Ids are unique per source.",
    )
    fmt = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, initial="auto")
    on_duplicate = forms.ChoiceField(label="Already imported ids", choices=DUPLICATE_CHOICES, initial="skip")
    modality = forms.ModelChoiceField(
        queryset=Modality.objects.all(),
        to_field_name="code",
        required=False,
        empty_label="(from the file's modality column)",
        help_text="Required for OMOP NOTE files, which have no modality column.",
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_FILE_BYTES
        if upload.size is not None and upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}."
            )
        problem = text_upload_check(upload, UPLOAD_SUFFIXES)
        if problem:
            raise forms.ValidationError(problem)
        return upload

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if cleaned.get("fmt") == "omop" and not cleaned.get("modality"):
            self.add_error("modality", "OMOP NOTE files have no modality column: choose one.")
        return cleaned


LABEL_FORMAT_CHOICES = [
    ("auto", "Detect (by extension and first character)"),
    ("jsonl", "Gold-file JSONL (id, gold: keys with status; optional mentions, pairs)"),
    ("csv", "CSV (id, then one column per key, 0 or 1)"),
]


class LabelImportForm(forms.Form):
    file = forms.FileField(
        help_text="UTF-8 JSONL in the gold-file format, or CSV with one 0/1 column per key."
    )
    source = forms.SlugField(
        max_length=100,
        help_text="The source the reports were imported from: labels match reports by source + id.",
    )
    label_source = forms.CharField(
        max_length=200,
        required=False,
        label="Label source",
        help_text="Where the labels come from (kept with them), e.g. registry-2024; empty: the file name.",
    )
    fmt = forms.ChoiceField(label="Format", choices=LABEL_FORMAT_CHOICES, initial="auto")

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        problem = text_upload_check(upload, UPLOAD_SUFFIXES) or label_upload_problem(upload=upload)
        if problem:
            raise forms.ValidationError(problem)
        return upload


# -- annotation workspace screens (assigning, entity values, weak labels, agreement) ----


def _model_choice(form: forms.Form, name: str) -> forms.ModelChoiceField[User]:
    """The form's own copy of a declared model choice field (form.fields is typed as
    plain fields)."""
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)
    return field


def _choice(form: forms.Form, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


def order_choices() -> list[tuple[str, str]]:
    """The queue orders, saying so when "most uncertain first" has no model to use."""
    available = uncertainty_status().available
    return [
        (value, label if value != UNCERTAINTY or available else f"{label}: no active stage-1 model")
        for value, label in ORDERS.items()
    ]


class AssignForm(forms.Form):
    modality = forms.ModelChoiceField(queryset=Modality.objects.all(), to_field_name="code", empty_label=None)
    how = forms.ChoiceField(label="Which reports", choices=list(HOW.items()), initial=SAMPLE)
    external_ids = forms.CharField(
        label="Report ids",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For a batch: external ids, separated by spaces, commas or new lines.",
    )
    n = forms.IntegerField(
        label="How many",
        required=False,
        min_value=1,
        max_value=MAX_PER_REQUEST,
        initial=20,
        help_text=f"For a search: at most this many, in id order (empty: up to {MAX_PER_REQUEST}).",
    )
    query = forms.CharField(label="Text contains", required=False, max_length=200)
    only_unassigned = forms.BooleanField(
        label="Only reports nobody has yet (no assignment, no gold)", required=False, initial=True
    )
    # Querysets set per form: who may annotate is read when the form is built.
    annotator: forms.ModelChoiceField[User] = forms.ModelChoiceField(queryset=None, label="Annotator")
    second_annotator: forms.ModelChoiceField[User] = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Second annotator (double annotation)",
        empty_label="(none)",
    )
    order = forms.ChoiceField(label="Queue order", choices=list(ORDERS.items()), initial=RANDOM)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = annotators()
        _model_choice(self, "annotator").queryset = people
        _model_choice(self, "second_annotator").queryset = people
        _choice(self, "order").choices = order_choices()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("annotator"), cleaned.get("second_annotator")
        if first and second and first == second:
            self.add_error("second_annotator", "Choose a different second annotator, or none.")
        return cleaned

    def external_id_list(self) -> list[str]:
        return [i for i in re.split(r"[\s,;]+", self.cleaned_data.get("external_ids") or "") if i]


class ReorderForm(forms.Form):
    order = forms.ChoiceField(label="Queue order", choices=list(ORDERS.items()))
    modality = forms.ModelChoiceField(
        queryset=Modality.objects.all(), to_field_name="code", required=False, empty_label="All modalities"
    )
    annotator: forms.ModelChoiceField[User] = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All annotators"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _model_choice(self, "annotator").queryset = annotators()
        _choice(self, "order").choices = order_choices()


class EntityValueForm(forms.Form):
    """A keyword or a regex. An invalid regex is a field error, never an exception."""

    text = forms.CharField(max_length=300, strip=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    kind = forms.ChoiceField(choices=[(KEYWORD, "Keyword"), (REGEX, "Regex")], initial=KEYWORD)
    case_sensitive = forms.BooleanField(required=False, label="Case-sensitive")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text, kind = cleaned.get("text", ""), cleaned.get("kind")
        if kind == REGEX and text.strip():
            problem = regex_error(text.strip())
            if problem:
                self.add_error("text", f"Invalid regular expression: {problem}")
        elif not text.strip():
            self.add_error("text", "Enter a keyword or a pattern.")
        return cleaned


class WeakLabelRunForm(forms.Form):
    modalities = forms.ModelMultipleChoiceField(
        queryset=Modality.objects.all(), to_field_name="code", widget=forms.CheckboxSelectMultiple
    )
    modes = forms.MultipleChoiceField(
        choices=WeakLabelSet.Mode.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=WeakLabelSet.Mode.values,
    )
    prune_older = forms.BooleanField(
        required=False, label="Also delete these modes' labels of older schema versions", initial=True
    )


class ReviseForm(forms.Form):
    """A corrected report text (services.revisions.report_revise)."""

    # Not stripped: the text is stored byte-exact, as an import stores it.
    text = forms.CharField(
        strip=False, max_length=settings.REPORT_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 12})
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

"""Forms of the annotations screens."""

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from annotations.models import Modality

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
        return upload

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if cleaned.get("fmt") == "omop" and not cleaned.get("modality"):
            self.add_error("modality", "OMOP NOTE files have no modality column: choose one.")
        return cleaned

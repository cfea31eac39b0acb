"""Export of findings (JSONL, CSV, OMOP NOTE_NLP) and of reports (OMOP NOTE).

`export_lines(spec)` yields the file as text, a line at a time, reading the
reports in batches of `spec.batch_size` (sources.report_batches), so exporting
100k reports holds one batch in memory, not the export. The web view and the
API stream these lines (StreamingHttpResponse); `manage.py export` writes them
to a file. Only users with PERM_EXPORT may export (radreview/roles.py: admins).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from analytics.export import formats
from analytics.export.records import GOLD, LABELS, UNVERIFIED, VERIFIED, FindingRecord
from analytics.export.sources import ExportFilters, KeyIndex, records_for_batch, report_batches
from radreview.roles import PERM_IMPORT

# Moving data in and out of RadReview in bulk is the data steward's job: the
# permission that imports reports also exports them (admins only). Clinicians
# verify findings one report at a time and do not get bulk PHI extracts.
PERM_EXPORT = PERM_IMPORT

FORMATS = ("jsonl", "csv", "note_nlp", "note")
FORMAT_INFO = {
    "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl", "Findings, JSON Lines"),
    "csv": ("text/csv; charset=utf-8", "csv", "Findings, CSV"),
    "note_nlp": ("text/csv; charset=utf-8", "csv", "Findings, OMOP CDM NOTE_NLP rows (CSV)"),
    "note": ("text/csv; charset=utf-8", "csv", "Reports, OMOP CDM NOTE rows (CSV, re-importable)"),
}
DEFAULT_LABELS = (VERIFIED,)
DEFAULT_BATCH_SIZE = 500

__all__ = [
    "DEFAULT_LABELS",
    "FORMATS",
    "GOLD",
    "LABELS",
    "PERM_EXPORT",
    "UNVERIFIED",
    "VERIFIED",
    "ExportFilters",
    "ExportSpec",
    "export_filename",
    "export_lines",
    "export_records",
]


@dataclass(frozen=True)
class ExportSpec:
    fmt: str = "jsonl"
    labels: tuple[str, ...] = DEFAULT_LABELS  # ignored by "note"
    filters: ExportFilters = field(default_factory=ExportFilters)
    note_id_from: str = "external_id"  # or "report" (formats.NOTE_ID_FROM)
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown format {self.fmt!r}; choose one of {', '.join(FORMATS)}")
        unknown = [label for label in self.labels if label not in LABELS]
        if unknown or not self.labels:
            raise ValueError(f"labels must be some of {', '.join(LABELS)}")
        if self.note_id_from not in formats.NOTE_ID_FROM:
            raise ValueError(f"note_id_from must be one of {', '.join(formats.NOTE_ID_FROM)}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive")


def export_records(spec: ExportSpec) -> Iterator[FindingRecord]:
    keys = KeyIndex()
    # Gold spans and NOTE_NLP snippets are cut from the text; the rest carry their quotes.
    with_text = spec.fmt == "note_nlp" or GOLD in spec.labels
    for batch in report_batches(spec.filters, batch_size=spec.batch_size, with_text=with_text):
        yield from records_for_batch(batch, keys, spec.labels)


def export_lines(spec: ExportSpec) -> Iterator[str]:
    if spec.fmt == "note":
        batches = report_batches(spec.filters, batch_size=spec.batch_size, with_text=True)
        reports = (report for batch in batches for report in batch.values())
        return formats.note_lines(reports, note_id_from=spec.note_id_from)
    records = export_records(spec)
    if spec.fmt == "jsonl":
        return formats.jsonl_lines(records)
    if spec.fmt == "csv":
        return formats.flat_csv_lines(records)
    return formats.note_nlp_lines(records, note_id_from=spec.note_id_from)


def export_filename(spec: ExportSpec, *, stamp: str) -> str:
    """e.g. radreview-verified-chest_ct-20261128.jsonl, note_nlp-..., note-...; no PHI."""
    what = "note" if spec.fmt == "note" else "+".join(spec.labels)
    parts = ["radreview", what]
    if spec.fmt == "note_nlp":
        parts.append("note_nlp")
    if spec.filters.modality:
        parts.append(spec.filters.modality)
    parts.append(stamp)
    return "-".join(parts) + "." + FORMAT_INFO[spec.fmt][1]

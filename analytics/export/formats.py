"""Export formats: records (or reports) to lines of text, one at a time.

* ``jsonl`` / ``csv``: one finding per line with the same columns
  (FLAT_COLUMNS); in CSV, ``paired`` is joined with " | ".
* ``note_nlp``: OMOP CDM v5.4 NOTE_NLP rows (CSV), one per finding.
* ``note``: OMOP CDM v5.4 NOTE rows (CSV), one per report, which
  annotations.importing reads back as the "omop" layout (round trip).

OMOP ids: NOTE_NLP.note_id must equal NOTE.note_id. It is the report's external
id (what an OMOP import stored from note_id, so exporting reports that came from
a NOTE extract gives back their original note_ids) or, with note_id="report",
RadReview's integer report id (for reports whose external ids are not integers).
No concept mapping ships with RadReview: concept ids are 0 ("no matching
concept") and the key names travel in lexical_variant / term_modifiers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from django.utils import timezone

from analytics.export.records import PRESENT, FindingRecord, ReportInfo
from radreview.spreadsheet import safe_row, safe_writer

FLAT_COLUMNS = [
    "label",
    "report_id",
    "source",
    "external_id",
    "patient_id",
    "study_datetime",
    "modality",
    "entity_type",
    "key",
    "status",
    "paired_type",
    "paired",
    "evidence",
    "start",
    "end",
    "method",
    "model",
    "score",
    "decided_by",
    "decided_at",
]
PAIRED_SEPARATOR = " | "

NOTE_NLP_COLUMNS = [
    "note_nlp_id",
    "note_id",
    "section_concept_id",
    "snippet",
    "offset",
    "lexical_variant",
    "note_nlp_concept_id",
    "note_nlp_source_concept_id",
    "nlp_system",
    "nlp_date",
    "nlp_datetime",
    "term_exists",
    "term_temporal",
    "term_modifiers",
]
NOTE_COLUMNS = [
    "note_id",
    "person_id",
    "note_date",
    "note_datetime",
    "note_type_concept_id",
    "note_class_concept_id",
    "note_title",
    "note_text",
    "encoding_concept_id",
    "language_concept_id",
    "provider_id",
    "visit_occurrence_id",
    "visit_detail_id",
    "note_source_value",
    "note_event_id",
    "note_event_field_concept_id",
]
UTF8_CONCEPT_ID = 32678  # OMOP "UTF-8" encoding concept
NOTE_ID_FROM = ("external_id", "report")
SNIPPET_MAX = 250  # NOTE_NLP.snippet, lexical_variant and nlp_system are varchar(250)
MODIFIERS_MAX = 2000  # NOTE_NLP.term_modifiers is varchar(2000)
SNIPPET_CONTEXT = 60  # characters each side of the span


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def flat_dict(record: FindingRecord) -> dict[str, Any]:
    """The JSONL object of a record; CSV writes the same values."""
    r = record.report
    return {
        "label": record.label,
        "report_id": r.id,
        "source": r.source,
        "external_id": r.external_id,
        "patient_id": r.patient_id,
        "study_datetime": _iso(r.study_datetime),
        "modality": r.modality,
        "entity_type": record.entity_type,
        "key": record.key,
        "status": record.status,
        "paired_type": record.paired_type,
        "paired": list(record.paired),
        "evidence": record.evidence,
        "start": record.start,
        "end": record.end,
        "method": record.method,
        "model": record.model,
        "score": record.score,
        "decided_by": record.decided_by,
        "decided_at": _iso(record.decided_at),
    }


class _Line:
    """A file-like object whose write() hands back what csv.writer wrote."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def take(self) -> str:
        value = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return value


def csv_lines(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    """CSV text, one row at a time; "\\n" line ends; every text cell quoted and a
    formula-like one escaped (radreview.spreadsheet), so opening it runs nothing."""
    line = _Line()
    writer = safe_writer(line.buffer)
    yield ",".join(header) + "\n"  # our own column names: nothing to quote or escape
    for row in rows:
        writer.writerow(safe_row(row))
        yield line.take()


def jsonl_lines(records: Iterable[FindingRecord]) -> Iterator[str]:
    for record in records:
        yield json.dumps(flat_dict(record), ensure_ascii=False) + "\n"


def flat_csv_lines(records: Iterable[FindingRecord]) -> Iterator[str]:
    def rows() -> Iterator[list[Any]]:
        for record in records:
            d = flat_dict(record)
            d["paired"] = PAIRED_SEPARATOR.join(d["paired"])
            yield [d[c] for c in FLAT_COLUMNS]

    return csv_lines(FLAT_COLUMNS, rows())


def note_id(report: ReportInfo, note_id_from: str) -> int | str:
    """NOTE.note_id of a report: an integer whenever the id is one."""
    value = str(report.id) if note_id_from == "report" else report.external_id
    return int(value) if value.isdigit() else value


def note_nlp_row(record: FindingRecord, *, note_nlp_id: int, note_id_from: str, today: datetime) -> list[Any]:
    r = record.report
    span = record.span_text
    lexical = (span or record.evidence or record.key)[:SNIPPET_MAX]
    when = record.decided_at or today
    modifiers = [
        f"verification={record.label}",
        f"status={record.status}",
        f"key={record.key}",
        f"entity_type={record.entity_type}",
    ]
    if record.paired:
        modifiers.append(f"{(record.paired_type or 'paired').lower()}={'|'.join(record.paired)}")
    if record.score is not None:
        modifiers.append(f"score={record.score:.4f}")
    system = f"RadReview {record.label} ({record.method}{'; ' + record.model if record.model else ''})"
    return [
        note_nlp_id,
        note_id(r, note_id_from),
        0,  # section_concept_id: sections are not detected
        _snippet(record)[:SNIPPET_MAX],
        str(record.start) if record.start is not None else None,
        lexical,
        0,  # note_nlp_concept_id: no standard concept mapping ships with RadReview
        0,
        system[:SNIPPET_MAX],
        timezone.localtime(when).date().isoformat(),
        when.isoformat(),
        # OMOP: term_exists is N when negated or uncertain (the patient may not have it).
        "Y" if record.status == PRESENT else "N",
        None,  # term_temporal: no past/present/future detection
        ";".join(modifiers)[:MODIFIERS_MAX],
    ]


def _snippet(record: FindingRecord) -> str:
    text = record.report.text
    if text is not None and record.start is not None and record.end is not None:
        left = max(0, record.start - SNIPPET_CONTEXT)
        return text[left : record.end + SNIPPET_CONTEXT]
    return record.evidence or record.key


def note_nlp_lines(records: Iterable[FindingRecord], *, note_id_from: str) -> Iterator[str]:
    today = timezone.now()

    def rows() -> Iterator[list[Any]]:
        for number, record in enumerate(records, start=1):
            yield note_nlp_row(record, note_nlp_id=number, note_id_from=note_id_from, today=today)

    return csv_lines(NOTE_NLP_COLUMNS, rows())


def note_row(report: ReportInfo, *, note_id_from: str) -> list[Any]:
    when = report.study_datetime
    return [
        note_id(report, note_id_from),
        report.patient_id,
        timezone.localtime(when).date().isoformat() if when else None,
        when.isoformat() if when else None,
        0,  # note_type_concept_id
        0,  # note_class_concept_id
        report.title,
        report.text,
        UTF8_CONCEPT_ID,
        0,  # language_concept_id
        None,
        None,
        None,
        f"{report.modality}:{report.source}",  # note_source_value: modality, then where it came from
        None,
        None,
    ]


def note_lines(reports: Iterable[ReportInfo], *, note_id_from: str) -> Iterator[str]:
    return csv_lines(NOTE_COLUMNS, (note_row(r, note_id_from=note_id_from) for r in reports))

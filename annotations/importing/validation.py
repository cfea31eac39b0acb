"""Which columns mean what (layouts) and the rules each report must meet.

Checks are plain Python on one record at a time; the only state that grows
with the file is the map of external ids already seen, for in-file duplicates.
Messages name lines and fields, never report text or patient ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

from annotations.importing.problems import ImportProblem, shorten
from annotations.importing.readers import Record

MAX_EXTERNAL_ID = 200  # Report.external_id
MAX_PATIENT_ID = 100  # Report.patient_id
MAX_TITLE = 300  # Report.title
HEADER_NAME = re.compile(r"[a-z_][a-z0-9_ .()/#-]{0,39}")  # a data row would not match

Complain = Callable[[str, str], None]  # (field, message)


@dataclass(frozen=True)
class Layout:
    """Column names of one file layout. `dates`: the first non-empty one is used."""

    name: str
    id: str
    patient_id: str
    dates: tuple[str, ...]
    modality: str | None  # None: the layout has no modality column (OMOP NOTE)
    text: str
    title: str


GENERIC = Layout("generic", "id", "patient_id", ("study_datetime",), "modality", "text", "title")
OMOP = Layout("omop", "note_id", "person_id", ("note_datetime", "note_date"), None, "note_text", "note_title")


def layout_detect(columns: Iterable[str]) -> Layout:
    return OMOP if {"note_id", "note_text"} <= set(columns) else GENERIC


def header_problem(*, layout: Layout, columns: list[str], has_default_modality: bool) -> str | None:
    """What is wrong with a CSV header for `layout`, or None. Found columns are
    listed only when the row looks like a header: a data row would leak PHI."""
    present = set(columns)
    missing = [c for c in (layout.id, layout.patient_id) if c not in present]
    if not present & set(layout.dates):
        missing.append(" or ".join(layout.dates))
    if layout.modality and layout.modality not in present and not has_default_modality:
        missing.append(f"{layout.modality} (or choose a modality for the whole file)")
    if layout.text not in present:
        missing.append(layout.text)
    if not missing:
        return None
    message = f"missing required column(s): {', '.join(missing)}"
    if not all(HEADER_NAME.fullmatch(c) for c in columns if c):
        return f"{message}; the first row does not look like a header (it must name the columns)"
    message += f"; found: {', '.join(c for c in columns[:30] if c) or '(none)'}"
    if layout is GENERIC and layout_detect(columns) is OMOP:
        message += " (this is the OMOP NOTE layout: choose the format omop)"
    return message


@dataclass(frozen=True)
class Modalities:
    """Modality ids by lower-case code and by lower-case name, loaded once per import."""

    ids: dict[str, int]
    codes: tuple[str, ...]

    def resolve(self, value: str) -> int | None:
        return self.ids.get(value.strip().lower())


@dataclass(frozen=True, slots=True)
class ValidRow:
    line: int
    external_id: str
    patient_id: str
    study_datetime: datetime
    modality_id: int
    title: str
    text: str  # exactly as in the file
    content_hash: str  # sha256 hex of text.encode("utf-8")


class RowChecker:
    """Turns records into ValidRows, or into the problems that stop them."""

    def __init__(
        self,
        *,
        layout: Layout,
        modalities: Modalities,
        default_modality_id: int | None,
        tz: tzinfo,
        max_chars: int,
    ) -> None:
        self.layout = layout
        self.modalities = modalities
        self.default_modality_id = default_modality_id
        self.tz = tz
        self.max_chars = max_chars
        self.seen: dict[str, int] = {}  # external id -> line; grows with the file

    def check(self, record: Record) -> ValidRow | list[ImportProblem]:
        problems: list[ImportProblem] = []

        def complain(field: str, message: str) -> None:
            problems.append(ImportProblem(line=record.line, field=field, message=message))

        layout = self.layout
        external_id = self._external_id(record, complain)
        patient_id = _string(
            record.fields, layout.patient_id, complain, limit=MAX_PATIENT_ID, what="patient id"
        )
        when = self._when(record.fields, complain)
        modality_id = self._modality(record.fields, complain)
        title = _string(record.fields, layout.title, complain, limit=MAX_TITLE, what="", required=False)
        text = self._text(record.fields, complain)
        if problems:
            return problems
        assert external_id and patient_id and when and modality_id and title is not None and text
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return ValidRow(record.line, external_id, patient_id, when, modality_id, title, text, digest)

    def _external_id(self, record: Record, complain: Complain) -> str | None:
        field = self.layout.id
        external_id = _string(record.fields, field, complain, limit=MAX_EXTERNAL_ID, what="id")
        if external_id is None:
            return None
        first = self.seen.setdefault(external_id, record.line)
        if first != record.line:
            complain(field, f"the same id appears on lines {first} and {record.line}")
            return None
        return external_id

    def _when(self, fields: dict[str, object], complain: Complain) -> datetime | None:
        for field in self.layout.dates:
            value = _string(fields, field, complain, limit=100, what="date", required=False)
            if value:
                when = parse_when(value, tz=self.tz)
                if when is None:
                    expected = "an ISO 8601 date or date-time (YYYY-MM-DD[ HH:MM[:SS]])"
                    complain(field, f"not {expected}: {shorten(value)}")
                return when
        complain(" / ".join(self.layout.dates), "missing date")
        return None

    def _modality(self, fields: dict[str, object], complain: Complain) -> int | None:
        field = self.layout.modality
        value = _string(fields, field, complain, limit=100, what="", required=False) if field else None
        if not value:
            if self.default_modality_id is None:
                complain(field or "modality", "missing modality (or choose a modality for the whole file)")
            return self.default_modality_id
        modality_id = self.modalities.resolve(value)
        if modality_id is None:
            known = ", ".join(self.modalities.codes)
            complain(field or "modality", f"unknown modality {shorten(value)}; known codes: {known}")
        return modality_id

    def _text(self, fields: dict[str, object], complain: Complain) -> str | None:
        field = self.layout.text
        text = fields.get(field)
        if text is None or (isinstance(text, str) and not text.strip()):
            complain(field, "empty report text")
            return None
        if not isinstance(text, str):
            complain(field, "must be a string")
            return None
        if len(text) > self.max_chars:
            complain(field, f"report text is {len(text):,} characters; the limit is {self.max_chars:,}")
            return None
        return text if _storable(text, field, complain) else None


def _string(
    fields: dict[str, object], field: str, complain: Complain, *, limit: int, what: str, required: bool = True
) -> str | None:
    """A short string value, stripped. JSON integers are accepted (ids often are)."""
    value = fields.get(field)
    if value is None:
        value = ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        complain(field, "must be a string")
        return None
    value = value.strip()
    if not value and required:
        complain(field, f"missing {what}")
        return None
    if len(value) > limit:
        complain(field, f"is {len(value):,} characters; the limit is {limit:,}")
        return None
    return value if _storable(value, field, complain) else None


def _storable(value: str, field: str, complain: Complain) -> bool:
    """Databases refuse NUL characters, and UTF-8 refuses unpaired surrogates
    (which a JSON escape such as "\\ud800" can produce)."""
    if "\x00" in value:
        complain(field, "contains a NUL character, which cannot be stored")
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        complain(field, "contains an unpaired surrogate escape (\\ud800-\\udfff), which is not valid Unicode")
        return False
    return True


def parse_when(value: str, *, tz: tzinfo) -> datetime | None:
    """An ISO 8601 date (midnight) or date-time; naive ones are in `tz`. Aware result."""
    try:
        if len(value) <= 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=tz)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)

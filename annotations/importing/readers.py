"""From a file on disk to records with physical line numbers.

The file is read one physical line at a time (bounded in length), so memory
does not grow with the file. Two containers: CSV (first row is the header) and
JSONL (one JSON object per line). Which columns mean what is the business of
`validation`, not of this module.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from annotations.importing.problems import FileProblem, ImportProblem
from radreview.spreadsheet import cell_unescape

CONTAINERS = ("csv", "jsonl")
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
SNIFF_BYTES = 64 * 1024


# What an upload that is not text most often is; the form names it instead of failing later.
BINARY_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or Word file is one: save it as CSV UTF-8)"),
    (b"\x1f\x8b", "a gzip archive (decompress it first)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls / .doc: save it as CSV UTF-8)"),
)


def head_problem(head: bytes) -> str | None:
    """Why the first bytes of an upload cannot start a UTF-8 CSV / JSONL file, or None:
    checked in the request, before a job is queued, so a wrong file gets a clear message
    at once (the import still checks every line)."""
    for signature, what in BINARY_SIGNATURES:
        if head.startswith(signature):
            return f"This file is {what}, not a CSV or JSONL text file."
    if b"\x00" in head:
        return "This file is binary (it contains NUL bytes), not a CSV or JSONL text file."
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the end of the head is fine
    except UnicodeDecodeError as exc:
        return (
            f"This file is not UTF-8 encoded (byte {exc.start + 1}); convert it, e.g. from CP949/EUC-KR, "
            "or save it as 'CSV UTF-8'."
        )
    return None


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # where the record starts
    fields: dict[str, object]  # column / key (stripped, lower case) -> value


def container_for(path: Path) -> str:
    """ "csv" or "jsonl": by extension, else by whether the file starts with "{"."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    with path.open("rb") as binary:
        head = binary.read(SNIFF_BYTES).decode("utf-8", errors="ignore")
    return "jsonl" if head.lstrip("\ufeff \t\r\n").startswith("{") else "csv"


class LineReader:
    """Physical lines of a binary file, decoded as UTF-8 one at a time.

    Splitting at b"\\n" is safe for UTF-8 (no multi-byte sequence contains 0x0A)
    and keeps "\\r\\n" inside quoted CSV fields exactly as written, as
    open(newline="") would. A UTF-8 byte order mark at the start is dropped.
    """

    def __init__(self, binary: BinaryIO, *, max_line_bytes: int) -> None:
        self._binary = binary
        self.max_line_bytes = max_line_bytes
        self.number = 0  # physical lines read so far
        self.bytes_read = 0

    def __iter__(self) -> Iterator[str]:
        while raw := self._binary.readline(self.max_line_bytes + 1):
            self.number += 1
            self.bytes_read += len(raw)
            if len(raw) > self.max_line_bytes:
                raise FileProblem(
                    line=self.number,
                    field="file",
                    message=f"line is longer than {self.max_line_bytes:,} bytes, more than any report may be",
                )
            yield self._decode(raw)

    def _decode(self, raw: bytes) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileProblem(
                line=self.number,
                field="file",
                message=(
                    f"not valid UTF-8 (byte {exc.start + 1} of the line); the file must be UTF-8 encoded "
                    "(convert it, e.g. from CP949/EUC-KR, or save it as 'CSV UTF-8')"
                ),
            ) from None
        return text[1:] if self.number == 1 and text.startswith("\ufeff") else text


class CsvRecords:
    """Rows of a CSV file with a header row, as records keyed by column name."""

    def __init__(self, lines: LineReader) -> None:
        self.lines = lines
        # A report is one field: allow fields as long as the longest line we accept.
        csv.field_size_limit(max(csv.field_size_limit(), lines.max_line_bytes))
        self._reader = csv.reader(lines, strict=True)
        self.header_line = 1
        self.columns: list[str] | None = self._header()

    def _header(self) -> list[str] | None:
        for line, row in self._rows():
            self.header_line = line
            columns = [name.strip().lower() for name in row]
            repeated = sorted({c for c in columns if c and columns.count(c) > 1})
            if repeated:
                message = f"repeated column(s): {', '.join(repeated)}"
                raise FileProblem(line=line, field="header", message=message)
            return columns
        return None

    def __iter__(self) -> Iterator[Record | ImportProblem]:
        width = len(self.columns or ())
        for line, row in self._rows():
            if len(row) != width:
                message = f"has {len(row)} fields but the header has {width}"
                yield ImportProblem(line=line, field="file", message=message)
            else:
                # A cell RadReview's export escaped for spreadsheets ("'=...") reads back as written.
                cells = (cell_unescape(cell) for cell in row)
                yield Record(line=line, fields=dict(zip(self.columns or (), cells, strict=True)))

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """Non-blank rows with the physical line each starts on."""
        while True:
            start = self._reader.line_num + 1
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                message = f"not valid CSV from this line on ({exc}); check the quoting"
                raise FileProblem(line=start, field="file", message=message) from None
            if any(cell.strip() for cell in row):
                yield start, row


class JsonlRecords:
    """One JSON object per line; blank lines are allowed."""

    columns: list[str] | None = None  # JSONL has no header: each record has its own keys

    def __init__(self, lines: LineReader) -> None:
        self.lines = lines

    def __iter__(self) -> Iterator[Record | ImportProblem]:
        for text in self.lines:
            line = self.lines.number
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                message = f"malformed JSON: {exc.msg} at column {exc.colno}"
                yield ImportProblem(line=line, field="file", message=message)
                continue
            if not isinstance(value, dict):
                yield ImportProblem(line=line, field="file", message="must be one JSON object {...}")
                continue
            yield Record(line=line, fields={str(key).strip().lower(): v for key, v in value.items()})


@contextmanager
def records_open(*, path: Path, container: str, max_line_bytes: int) -> Iterator[CsvRecords | JsonlRecords]:
    with path.open("rb") as binary:
        lines = LineReader(binary, max_line_bytes=max_line_bytes)
        yield CsvRecords(lines) if container == "csv" else JsonlRecords(lines)

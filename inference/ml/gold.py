"""The one reader of gold files: JSON Lines, one report per line (docs/gold-files.md).

    for line in gold_lines(handle, require=()):       # streaming, bytes or str lines
        line.number, line.record
    records = gold_file_records(path)                 # every line of a file, checked

A line is one JSON object with the report ("id", "modality", "text", optional
"patient_id", "study_datetime", ...) and its labels ("gold": the report-level
summary; optional "mentions" and "pairs"). Blank lines are skipped; a UTF-8 byte
order mark before the first line is allowed. Each caller says which fields it
needs (`require`): evaluation needs the gold summary of every line, loading gold
onto imported reports can build it from the mentions.

Errors are GoldFileError naming the line and what is wrong, never quoting the
line (it holds report text). Plain Python: used by the annotations app (gold
loading), the evaluation job and command, and benches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What an evaluation needs of every line.
REQUIRED = ("id", "modality", "text", "gold")


class GoldFileError(ValueError):
    """A gold-file line that cannot be used; str() is "line N: what is wrong"."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class GoldLine:
    number: int  # 1-based line number in the file
    record: dict[str, Any]


def gold_lines(lines: Iterable[bytes | str], *, require: Sequence[str] = REQUIRED) -> Iterator[GoldLine]:
    """The non-blank lines as checked records, in file order (lazily: a large file is
    never held whole). Raises GoldFileError at the first bad line."""
    for number, raw in enumerate(lines, start=1):
        text = _decoded(number, raw)
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GoldFileError(number, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise GoldFileError(number, "must be one JSON object")
        gold_record_check(number, record, require=require)
        yield GoldLine(number, record)


def gold_file_records(path: Path, *, require: Sequence[str] = REQUIRED) -> list[dict[str, Any]]:
    """Every record of the gold file at `path` (GoldFileError at the first bad line)."""
    with path.open("rb") as handle:
        return [line.record for line in gold_lines(handle, require=require)]


def gold_record_check(number: int, record: dict[str, Any], *, require: Sequence[str] = REQUIRED) -> None:
    """The record has the `require`d fields, and a "gold" that is an object when
    required or given (a missing required "gold" is reported as not an object)."""
    missing = [name for name in require if name != "gold" and name not in record]
    if missing:
        raise GoldFileError(number, f"needs {_names(require)} (missing {_names(missing)})")
    gold = record.get("gold")
    if ("gold" in require or gold is not None) and not isinstance(gold, dict):
        raise GoldFileError(number, '"gold" must be an object (docs/gold-files.md)')


def _decoded(number: int, raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GoldFileError(number, "not valid UTF-8") from None


def _names(names: Sequence[str]) -> str:
    quoted = [f'"{name}"' for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]

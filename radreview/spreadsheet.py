"""CSV cells that a spreadsheet opens as text, never as a formula.

A report text, key or id that starts with "=", "+", "-" or "@" (or a tab or
carriage return, which some spreadsheets skip before reading one of those) is
run as a formula when the file is opened in Excel or LibreOffice: OWASP's "CSV
injection". Such a cell is written with a leading single quote (spreadsheets
show the text and hide the quote), and every text cell is quoted, so that a
";" inside a text cannot start a new cell in locales whose separator it is.

The escape is reversible: a cell that already starts with quotes before a
formula character gets one more, and `cell_unescape` takes exactly one off, so
an exported NOTE file imports back to the same report texts.
"""

from __future__ import annotations

import csv
import re
from typing import IO, Any

FORMULA_START = "=+-@\t\r"
_ESCAPED = re.compile(r"'*[=+\-@\t\r]")
_TO_UNESCAPE = re.compile(r"'+[=+\-@\t\r]")


def cell_escape(value: str) -> str:
    return "'" + value if _ESCAPED.match(value) else value


def cell_unescape(value: str) -> str:
    return value[1:] if _TO_UNESCAPE.match(value) else value


def safe_row(row: list[Any]) -> list[Any]:
    """The row as a CSV writer should get it: text escaped, numbers as they are, None empty."""
    return ["" if v is None else cell_escape(v) if isinstance(v, str) else v for v in row]


def safe_writer(fh: IO[str], *, lineterminator: str = "\n") -> Any:
    """A csv.writer that quotes every text cell (numbers stay bare, spreadsheets read them as numbers).

    Write rows through `safe_row`: the writer quotes, the row function escapes.
    """
    return csv.writer(fh, lineterminator=lineterminator, quoting=csv.QUOTE_NONNUMERIC)

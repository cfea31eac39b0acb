"""Problems found in an import file.

A problem names a line and a field, never a value from the report text or a
patient id: problem lists are shown on admin pages, stored in Job.result and
printed by the management command, so they must not carry PHI.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LISTED = 100


@dataclass(frozen=True, slots=True)
class ImportProblem:
    line: int  # physical line of the file (1-based); for a CSV record, the line it starts on
    field: str  # a column or key name, or "file" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class FileProblem(Exception):
    """A problem after which the rest of the file cannot be read meaningfully
    (not UTF-8, broken CSV quoting, missing columns)."""

    def __init__(self, *, line: int, field: str, message: str) -> None:
        super().__init__(message)
        self.problem = ImportProblem(line=line, field=field, message=message)


class ProblemList:
    """Keeps the first MAX_LISTED problems and counts the rest, so a file with a
    million bad rows costs no more memory than one with a hundred."""

    def __init__(self, *, limit: int = MAX_LISTED) -> None:
        self.limit = limit
        self.items: list[ImportProblem] = []
        self.total = 0

    def add(self, problem: ImportProblem) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(problem)

    @property
    def omitted(self) -> int:
        return self.total - len(self.items)

    def __bool__(self) -> bool:
        return self.total > 0


def shorten(value: str, *, limit: int = 40) -> str:
    """A user-supplied value, quoted and cut, for messages about dates and codes."""
    return repr(value if len(value) <= limit else value[:limit] + "…")

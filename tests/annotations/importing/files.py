"""Writing the import files the importing tests read: CSV and JSONL, a header and rows."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

HEADER = ("id", "patient_id", "study_datetime", "modality", "text")


def write_csv(path: Path, rows: Iterable[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records: Iterable[dict[str, object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def row(n: int, text: str | None = None, modality: str = "chest_ct") -> tuple[str, str, str, str, str]:
    return (f"r{n}", f"p{n}", "2021-03-04", modality, text or f"Report {n}: small nodule in the RUL.")

"""manage.py export: findings as JSONL / CSV / OMOP NOTE_NLP, or reports as OMOP NOTE.

    manage.py export --format note_nlp --labels verified,unverified --modality chest_ct -o out.csv
    manage.py export --format note --modality brain_mri -o note.csv

The NOTE file is re-importable: import_reports note.csv --source S --format omop --modality brain_mri.

Streams in batches like the web export; without -o it writes to standard output.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.export import FORMATS, LABELS, ExportFilters, ExportSpec, export_lines
from analytics.export.formats import NOTE_ID_FROM


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from None


class Command(BaseCommand):
    help = "Export verified findings (optionally unverified predictions / gold) or reports."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument(
            "--labels",
            default="verified",
            help=f"comma-separated, some of {', '.join(LABELS)} (default: verified)",
        )
        parser.add_argument("--modality", default="")
        parser.add_argument("--patient-id", default="")
        parser.add_argument("--source", default="")
        parser.add_argument("--date-from", type=_date, default=None)
        parser.add_argument("--date-to", type=_date, default=None)
        parser.add_argument("--note-id", choices=NOTE_ID_FROM, default="external_id")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        labels = tuple(dict.fromkeys(p.strip() for p in options["labels"].split(",") if p.strip()))
        try:
            spec = ExportSpec(
                fmt=options["format"],
                labels=labels,
                filters=ExportFilters(
                    modality=options["modality"],
                    patient_id=options["patient_id"],
                    source=options["source"],
                    date_from=options["date_from"],
                    date_to=options["date_to"],
                ),
                note_id_from=options["note_id"],
                batch_size=options["batch_size"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        lines = 0
        if options["output"] is None:
            for line in export_lines(spec):
                sys.stdout.write(line)
                lines += 1
        else:
            with options["output"].open("w", encoding="utf-8", newline="") as out:
                for line in export_lines(spec):
                    out.write(line)
                    lines += 1
            # Counts only: no report content or patient ids in the console log.
            self.stderr.write(f"wrote {lines} line(s) (header included) to {options['output']}")

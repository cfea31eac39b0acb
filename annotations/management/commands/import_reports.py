"""manage.py import_reports FILE --source S: import a CSV, JSONL or OMOP NOTE file, all or nothing."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.services.importing import FORMATS, ON_DUPLICATE, reports_import


class Command(BaseCommand):
    help = (
        "Import reports from a CSV, JSONL or OMOP CDM NOTE file. Every row is checked first; "
        "if any row has a problem, nothing is imported and the problems are listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--source", required=True, help="system the reports come from; ids are unique per source"
        )
        parser.add_argument("--format", dest="fmt", choices=FORMATS, default="auto")
        parser.add_argument(
            "--on-duplicate", choices=ON_DUPLICATE, default="skip", help="for ids already imported"
        )
        parser.add_argument(
            "--modality", help="modality code for files without a modality column (OMOP NOTE)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        assert isinstance(path, Path)
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        try:
            result = reports_import(
                path=path,
                fmt=str(options["fmt"]),
                source=str(options["source"]),
                on_duplicate=str(options["on_duplicate"]),
                default_modality=options["modality"] or None,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for problem in result.problems:
            self.stderr.write(str(problem))
        if result.problems_omitted:
            self.stderr.write(f"… and {result.problems_omitted} more problem(s)")
        if options["verbosity"] >= 2:
            for dup in result.content_duplicate_rows:
                self.stdout.write(f"line {dup.line}: id {dup.external_id}: same text as {dup.same_as}")
        if not result.ok:
            raise CommandError(result.summary())
        self.stdout.write(result.summary())

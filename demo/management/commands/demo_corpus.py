"""Write the seeded demo corpus (chest CT and brain MRI reports with gold labels) as a gold file.

python manage.py demo_corpus --out var/demo.jsonl --n 500 --seed 7 --modality both
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.generator.corpus import MODALITIES, write_jsonl

CHOICES = {"chest_ct": ("chest_ct",), "brain_mri": ("brain_mri",), "both": MODALITIES}


class Command(BaseCommand):
    help = "Write N generated radiology reports with gold labels to a JSONL gold file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="the JSONL file to write")
        parser.add_argument("--n", type=int, default=500, help="number of reports (default 500)")
        parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
        parser.add_argument("--modality", choices=sorted(CHOICES), default="both")

    def handle(self, *args: Any, out: Path, n: int, seed: int, modality: str, **options: Any) -> None:
        out = Path(out)  # call_command(out="...") passes the string through
        if n < 1:
            raise CommandError("--n must be at least 1")
        if not out.parent.is_dir():
            raise CommandError(f"directory does not exist: {out.parent}")
        started = time.perf_counter()
        written = write_jsonl(out, n=n, seed=seed, modalities=CHOICES[modality])
        elapsed = time.perf_counter() - started
        self.stdout.write(f"wrote {written} reports to {out} in {elapsed:.1f}s (seed {seed}, {modality})")

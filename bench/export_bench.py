"""Export N reports' findings and measure time and memory; the export must stream.

    python bench/export_bench.py [--quick] [--n 100000] [--format note_nlp|jsonl|csv|note]

Uses DATABASE_URL like the app (SQLite under var/ by default). Creates N
synthetic chest CT reports with one stage 2 prediction each (two findings)
under a fresh source, runs `manage.py export` on them in a child process (so
its peak RSS is the export's alone, not the set-up's), and removes them.
--quick: 20k reports. The figure that matters is that export_peak_rss_mb stays
flat as --n grows (measured: 171 MB for an empty export, 173 MB for 20k and for
100k reports on SQLite; most of it is Django and the app's imports).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _django import ROOT, setup_django

TEXT = (
    "Report {n}: 8 mm nodule in the RUL, no pleural effusion. 우상엽 결절. " + "Lungs otherwise clear. " * 20
)
FINDINGS = [
    {
        "key": "nodule",
        "status": "present",
        "kind": "lesion",
        "locations": ["right upper lobe"],
        "evidence": "8 mm nodule in the RUL",
    },
    {"key": "pleural effusion", "status": "negated", "kind": "lesion", "evidence": "no pleural effusion"},
]
BATCH = 2000


def create(source: str, n: int) -> None:
    from annotations.models import Modality, Report
    from inference.models import Stage2Prediction

    chest = Modality.objects.get(code="chest_ct")
    for first in range(0, n, BATCH):
        reports = []
        for i in range(first, min(n, first + BATCH)):
            text = TEXT.format(n=i)
            reports.append(
                Report(
                    source=source,
                    external_id=str(i),
                    patient_id=f"p{i % 5000}",
                    modality=chest,
                    text=text,
                    content_hash=hashlib.sha256(text.encode()).hexdigest(),
                )
            )
        created = Report.objects.bulk_create(reports)
        Stage2Prediction.objects.bulk_create(
            [
                Stage2Prediction(report=r, mode="llm_hint", run_key="bench", status="ok", findings=FINDINGS)
                for r in created
            ]
        )


def remove(source: str) -> None:
    from django.db import connection

    from annotations.models import Report
    from inference.models import Stage2Prediction

    Stage2Prediction.objects.filter(report__source=source)._raw_delete(connection.alias)
    Report.objects.filter(source=source)._raw_delete(connection.alias)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k reports instead of 100k")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--format", choices=["note_nlp", "jsonl", "csv", "note"], default="note_nlp")
    args = parser.parse_args()
    n = args.n or (20_000 if args.quick else 100_000)

    setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    source = f"bench-export-{int(time.time())}"
    started = time.perf_counter()
    create(source, n)
    print(f"database: {connection.vendor}")
    print(f"reports: {n}")
    print(f"setup_seconds: {time.perf_counter() - started:.1f}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "export.out"
            command = [
                sys.executable,
                str(ROOT / "manage.py"),
                "export",
                "--format",
                args.format,
                "--labels",
                "unverified",
                "--source",
                source,
                "-o",
                str(out),
            ]
            started = time.perf_counter()
            # DEBUG keeps every SQL statement in memory (up to 9,000): measure as production runs.
            env = {**os.environ, "DEBUG": "false"}
            subprocess.run(command, check=True, env=env, capture_output=True)
            elapsed = time.perf_counter() - started
            with out.open("rb") as fh:
                lines = sum(1 for _ in fh)
            size = out.stat().st_size
    finally:
        remove(source)
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"format: {args.format}")
    print(f"export_seconds: {elapsed:.1f}")
    print(f"reports_per_second: {n / elapsed:.0f}")
    print(f"lines: {lines}")
    print(f"file_mb: {size / 1024 / 1024:.1f}")
    print(f"export_peak_rss_mb: {child_rss:.0f}")


if __name__ == "__main__":
    main()

"""Import N generated reports into the configured database; print throughput and memory.

    python bench/import_bench.py [--quick] [--n 100000] [--format jsonl|csv]

Uses DATABASE_URL like the app (SQLite under var/ by default). The reports go in
under a fresh source name and are removed afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

from _django import peak_rss_mb, setup_django

COLUMNS = ("id", "modality", "patient_id", "study_datetime", "text")


def write_input(path: Path, *, n: int, fmt: str) -> None:
    from demo.generator.corpus import generate_reports

    with path.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "jsonl":
            for rec in generate_reports(n=n, seed=11):
                fh.write(
                    json.dumps(
                        {k: rec[k] for k in ("id", "modality", "patient_id", "study_datetime", "text")}
                    )
                )
                fh.write("\n")
        else:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for rec in generate_reports(n=n, seed=11):
                writer.writerow(
                    [rec["id"], rec["modality"], rec["patient_id"], rec["study_datetime"], rec["text"]]
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k reports instead of 100k")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--format", choices=["jsonl", "csv"], default="csv")
    parser.add_argument("--keep", action="store_true", help="leave the imported reports in the database")
    args = parser.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)

    setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)  # the configured database may be brand new

    from annotations.models import Report
    from annotations.services.importing import reports_import

    source = f"bench-{int(time.time())}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"reports.{args.format}"
        write_input(path, n=n, fmt=args.format)
        started = time.perf_counter()
        result = reports_import(path=path, fmt=args.format, source=source, on_duplicate="skip")
        elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"import failed: {result.problems[:5]}")
    assert result.created == n, result.as_dict()
    print(f"database: {connection.vendor}")
    print(f"reports: {n}")
    print(f"seconds: {elapsed:.2f}")
    print(f"reports_per_second: {n / elapsed:.0f}")
    print(f"peak_rss_mb: {peak_rss_mb():.0f}")
    if not args.keep:
        Report.objects.filter(source=source)._raw_delete(connection.alias)


if __name__ == "__main__":
    main()

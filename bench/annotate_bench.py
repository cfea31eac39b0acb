"""Annotation workspace latency with a large corpus in the database: the annotation
page render (GET, full page with suggestions) and a mention save (htmx POST, which
answers the re-rendered workspace), through Django's test Client.

    python bench/annotate_bench.py [--quick] [--n 100000] [--samples 100] [--keep]

Uses DATABASE_URL like the app (SQLite under RADREVIEW_DATA_DIR by default). The
reports are imported under the source "bench-annotate" unless that many are there
already, and removed afterwards unless --keep. --quick uses 10,000 reports (not
100,000) and 40 samples: it says so in its `reports:` line.
Each sampled report gets two saves: a suggestion accepted (save_p95_ms) and a
span that is no entity value yet, which also adds the value (save_new_value_p95_ms).
Prints `name: value` lines; targets: page_p95_ms < 150, save_p95_ms < 50. The
*_cpu_p95_ms lines time this process's CPU only (SQLite runs in-process, so they
include the queries): the figures to compare on a machine shared with other work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from _django import setup_django

if TYPE_CHECKING:  # imported for real once Django is set up
    from annotations.workspace import Suggestion

SOURCE = "bench-annotate"


def _import(n: int) -> None:
    from annotations.models import Report
    from annotations.services.importing import reports_import
    from demo.generator.corpus import generate_reports

    have = Report.objects.filter(source=SOURCE).count()
    if have >= n:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reports.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for rec in generate_reports(n=n, seed=21):
                row = {k: rec[k] for k in ("id", "modality", "patient_id", "study_datetime", "text")}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        result = reports_import(path=path, fmt="jsonl", source=SOURCE, on_duplicate="skip")
    if not result.ok:
        raise SystemExit(f"import failed: {result.problems[:3]}")


def _unlabelled_word(text: str, suggestions: list[Suggestion]) -> tuple[int, int] | None:
    """The first lower-case word of 6+ letters that no suggestion covers."""
    import re

    for m in re.finditer(r"\b[a-z]{6,}\b", text):
        if not any(s.start < m.end() and m.start() < s.end for s in suggestions):
            return m.span()
    return None


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k reports and 40 samples")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="leave the reports in the database")
    args = parser.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)
    samples = args.samples or (40 if args.quick else 100)

    setup_django()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    call_command("migrate", verbosity=0)  # the configured database may be brand new
    setup_test_environment()  # the test Client needs ALLOWED_HOSTS to accept "testserver"
    from annotations.models import Assignment, EntityValue, Mention, Report
    from annotations.services.values import entity_value_delete
    from annotations.workspace import workspace_build

    started = time.perf_counter()
    _import(n)
    import_seconds = time.perf_counter() - started
    user, _ = get_user_model().objects.get_or_create(username="bench-annotator")
    user.groups.add(Group.objects.get(name="annotator"))
    Assignment.objects.filter(annotator=user).delete()
    reports = list(Report.objects.filter(source=SOURCE).order_by("?").values_list("id", flat=True)[:samples])
    assignments = Assignment.objects.bulk_create([Assignment(report_id=r, annotator=user) for r in reports])

    client = Client()
    client.force_login(user)
    client.get(reverse("annotations:annotate", args=[assignments[0].pk]))  # warm caches (matcher, templates)
    page_ms, save_ms, learn_ms = [], [], []
    page_cpu_ms, save_cpu_ms = [], []  # this process's CPU time: what the request itself costs
    for assignment in assignments:
        url = reverse("annotations:annotate", args=[assignment.pk])
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url)
        page_ms.append((time.perf_counter() - t0) * 1000)
        page_cpu_ms.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200, response.status_code
        suggestions = workspace_build(assignment=assignment, user=user).suggestions
        if not suggestions:
            continue
        s = suggestions[0]
        data = {"key": s.key.pk, "start": s.start, "end": s.end, "text": s.text}
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.post(
            reverse("annotations:mention_create", args=[assignment.pk]), data, HTTP_HX_REQUEST="true"
        )
        save_ms.append((time.perf_counter() - t0) * 1000)
        save_cpu_ms.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200 and b"ws-error" not in response.content, response.content[:300]
        # A span that is no entity value yet: the save also teaches the lexicon a new value.
        word = _unlabelled_word(assignment.report.text, suggestions)
        if word is None:
            continue
        data = {
            "key": s.key.pk,
            "start": word[0],
            "end": word[1],
            "text": assignment.report.text[word[0] : word[1]],
        }
        t0 = time.perf_counter()
        response = client.post(
            reverse("annotations:mention_create", args=[assignment.pk]), data, HTTP_HX_REQUEST="true"
        )
        learn_ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200 and b"ws-error" not in response.content, response.content[:300]

    saved = Mention.objects.filter(assignment__annotator=user).count()
    print(f"database: {connection.vendor}")
    quick = " (fewer than 100k: quick)" if n < 100_000 else ""
    print(f"reports: {Report.objects.filter(source=SOURCE).count()}{quick}")
    print(f"import_seconds: {import_seconds:.1f}")
    print(f"page_samples: {len(page_ms)}")
    print(f"page_p50_ms: {statistics.median(page_ms):.1f}")
    print(f"page_p95_ms: {_p95(page_ms):.1f}")
    print(f"page_cpu_p95_ms: {_p95(page_cpu_ms):.1f}")
    print(f"save_samples: {len(save_ms)}")
    print(f"save_p50_ms: {statistics.median(save_ms):.1f}")
    print(f"save_p95_ms: {_p95(save_ms):.1f}")
    print(f"save_cpu_p95_ms: {_p95(save_cpu_ms):.1f}")
    print(f"save_new_value_samples: {len(learn_ms)}")
    print(f"save_new_value_p95_ms: {_p95(learn_ms):.1f}")
    print(f"mentions_saved: {saved}")
    Assignment.objects.filter(annotator=user).delete()
    for value in EntityValue.objects.filter(created_by=user).select_related("key"):
        entity_value_delete(value=value)
    if not args.keep:
        Report.objects.filter(source=SOURCE)._raw_delete(connection.alias)


if __name__ == "__main__":
    main()

"""Clinician review latency with a large review backlog in the database: the queue
(GET, default filters and a few filtered variants), the review page (GET, full
page with highlights, findings and the lesion x location grid) and a decision
(htmx POST approve, which answers the re-rendered page), through Django's test
Client, plus the number of SQL queries per review page and per queue page.

    DATABASE_URL=postgres://... python bench/review_bench.py [--quick] [--n 100000] [--samples 100] [--keep]

Data: n demo-corpus reports (source "bench-review") with 5 review findings per
report on average (the positive gold findings, topped up with stage-1-only ones),
bulk-inserted straight into the review tables (the inference jobs and
review.services.sync_report_findings are measured elsewhere), with priorities,
statuses and signals spread like a real backlog. --quick: 10,000 reports, 30
samples (it says so in its `reports:` line). Rows are removed afterwards unless --keep.
Prints `name: value` lines; target: p95 under 150 ms for queue, page and decision.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from _django import setup_django

SOURCE = "bench-review"
FINDINGS_PER_REPORT = 5
BATCH = 5000


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def _findings_for(
    rec: dict[str, Any], rng: random.Random, keys: dict[str, list[str]]
) -> list[dict[str, Any]]:
    spans: dict[str, tuple[int, int, str]] = {}
    for m in rec["mentions"]:
        spans.setdefault(m["key"], (m["start"], m["end"], m["text"]))
    out = []
    gold = rec["gold"]
    if rec["modality"] == "chest_ct":
        for key, value in gold.get("lesions", {}).items():
            if value["status"] in ("present", "uncertain"):
                out.append(
                    {"kind": "lesion", "key": key, "locations": value["locations"], "span": spans.get(key)}
                )
    else:
        for key, value in gold.get("diagnoses", {}).items():
            if value["status"] in ("present", "uncertain"):
                out.append(
                    {
                        "kind": "diagnosis",
                        "key": key,
                        "episode": value.get("episode", ""),
                        "span": spans.get(key),
                    }
                )
        for key in gold.get("non_tumor", []):
            out.append({"kind": "non_tumor", "key": key, "span": spans.get(key)})
    pool = [k for k in keys[rec["modality"]] if k not in {f["key"] for f in out}]
    rng.shuffle(pool)
    while len(out) < FINDINGS_PER_REPORT and pool:  # stage 1 only, no evidence
        kind = "lesion" if rec["modality"] == "chest_ct" else "diagnosis"
        out.append({"kind": kind, "key": pool.pop(), "span": None, "stage1_only": True})
    return out


def _load(n: int, seed: int) -> None:
    import hashlib

    from django.db import transaction

    from annotations.models import Modality, Report
    from demo.generator.corpus import generate_reports
    from review.models import ReviewFinding, ReviewReport
    from review.page import schema_keys
    from review.services.sync import priority_of

    if Report.objects.filter(source=SOURCE).count() >= n:
        return
    modalities = {m.code: m for m in Modality.objects.all()}
    keys = {code: schema_keys(m).findings for code, m in modalities.items()}
    rng = random.Random(seed)
    statuses = ["pending"] * 6 + ["in_progress"] * 2 + ["verified"] * 2
    records = generate_reports(n=n, seed=seed)
    done = 0
    while done < n:
        chunk = [next(records) for _ in range(min(BATCH, n - done))]
        with transaction.atomic():
            reports = Report.objects.bulk_create(
                [
                    Report(
                        source=SOURCE,
                        external_id=f"{rec['id']}-{done + i}",
                        patient_id=rec["patient_id"],
                        study_datetime=rec["study_datetime"] + "+00:00",
                        modality=modalities[rec["modality"]],
                        text=rec["text"],
                        content_hash=hashlib.sha256(rec["text"].encode()).hexdigest(),
                    )
                    for i, rec in enumerate(chunk)
                ]
            )
            reviews, planned = [], []
            for report, rec in zip(reports, chunk, strict=True):
                items = _findings_for(rec, rng, keys)
                signals = {
                    "margin": round(rng.random() * 0.5, 4),
                    "llm_failed": rng.random() < 0.03,
                    "disagreement": any(f.get("stage1_only") for f in items),
                    "unmatched": rng.random() < 0.1,
                }
                signals["near_threshold"] = signals["margin"] < 0.1
                status = rng.choice(statuses)
                reviews.append(
                    ReviewReport(
                        report=report,
                        modality_id=report.modality_id,
                        patient_id=report.patient_id,
                        study_datetime=report.study_datetime,
                        status=status,
                        priority=priority_of(signals),
                        signals=signals,
                        n_total=len(items),
                        n_pending=0 if status == "verified" else len(items),
                        prompt_version="bench",
                    )
                )
                planned.append((report, items, status))
            reviews = ReviewReport.objects.bulk_create(reviews)
            rows = []
            for review, (report, items, status) in zip(reviews, planned, strict=True):
                for f in items:
                    span = f["span"]
                    rows.append(
                        ReviewFinding(
                            review=review,
                            report=report,
                            kind=f["kind"],
                            key=f["key"],
                            locations=f.get("locations", []),
                            episode=f.get("episode") or "",
                            evidence=span[2] if span else "",
                            evidence_start=span[0] if span else None,
                            evidence_end=span[1] if span else None,
                            ai={"key": f["key"], "status": "present", "locations": f.get("locations", [])},
                            fingerprint=f"bench-{f['key']}",
                            flags=["stage1_only"] if f.get("stage1_only") else [],
                            stage1_probability=round(rng.random(), 3),
                            stage1_threshold=0.5,
                            model_version_name="bench",
                            prompt_version="bench",
                            status="approved" if status == "verified" else "pending",
                        )
                    )
            ReviewFinding.objects.bulk_create(rows, batch_size=BATCH)
        done += len(chunk)


def _cleanup() -> None:
    from django.db import connection

    from annotations.models import Report
    from review.models import ReviewDecision, ReviewFinding, ReviewReport

    ReviewDecision.objects.filter(report__source=SOURCE)._raw_delete(connection.alias)
    ReviewFinding.objects.filter(report__source=SOURCE)._raw_delete(connection.alias)
    ReviewReport.objects.filter(report__source=SOURCE)._raw_delete(connection.alias)
    Report.objects.filter(source=SOURCE)._raw_delete(connection.alias)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k reports and 30 samples")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="leave the rows in the database")
    args = parser.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)
    samples = args.samples or (30 if args.quick else 100)

    setup_django()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    call_command("migrate", verbosity=0)
    setup_test_environment()
    from annotations.models import Report
    from review.models import ReviewFinding, ReviewReport

    started = time.perf_counter()
    _load(n, seed=11)
    load_seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE review_reviewreport; ANALYZE review_reviewfinding; ANALYZE annotations_report"
            )
    user, _ = get_user_model().objects.get_or_create(username="bench-clinician")
    user.groups.add(Group.objects.get(name="clinician"))
    ReviewReport.objects.filter(lease_user=user).update(lease_user=None, lease_until=None)
    rng = random.Random(5)
    open_ids = list(
        ReviewReport.objects.filter(report__source=SOURCE, status="pending").values_list(
            "report_id", flat=True
        )[: samples * 20]
    )
    sample_ids = rng.sample(open_ids, min(samples, len(open_ids)))

    client = Client()
    client.force_login(user)
    client.get(reverse("review:review", args=[sample_ids[0]]))  # warm caches (matcher, templates, schema)
    queue_urls = {
        "default": "",
        "modality": "?modality=chest_ct",
        "finding": "?finding=nodule",
        "by_date": "?status=in_progress&sort=date",
        "offset": "?offset=500",
    }
    by_variant: dict[str, list[float]] = {name: [] for name in queue_urls}
    queue_ms, page_ms, decision_ms, page_queries, queue_queries = [], [], [], [], []
    for i, report_id in enumerate(sample_ids):
        variant = list(queue_urls)[i % len(queue_urls)]
        url = reverse("review:queue") + queue_urls[variant]
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(url)
            queue_ms.append((time.perf_counter() - t0) * 1000)
        by_variant[variant].append(queue_ms[-1])
        queue_queries.append(len(ctx.captured_queries))
        assert response.status_code == 200, response.status_code
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(reverse("review:review", args=[report_id]))
            page_ms.append((time.perf_counter() - t0) * 1000)
        page_queries.append(len(ctx.captured_queries))
        assert response.status_code == 200, response.status_code
        finding = ReviewFinding.objects.filter(report_id=report_id, status="pending").first()
        if finding is None:
            continue
        # As a clinician approves: the flags confirmed, a span selected where the
        # finding has no evidence in the report (issue 18).
        data = {"action": "approve", "version": finding.version, "confirm": "1"}
        if finding.evidence_start is None:
            data |= {"start": 0, "end": 5}
        t0 = time.perf_counter()
        response = client.post(
            reverse("review:decide", args=[report_id, finding.pk]), data, HTTP_HX_REQUEST="true"
        )
        decision_ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code in (200, 204) and b"rv-error" not in response.content, response.content[
            :300
        ]

    print(f"database: {connection.vendor}")
    quick = " (fewer than 100k: quick)" if n < 100_000 else ""
    print(f"reports: {Report.objects.filter(source=SOURCE).count()}{quick}")
    print(f"findings: {ReviewFinding.objects.filter(report__source=SOURCE).count()}")
    print(f"load_seconds: {load_seconds:.1f}")
    print(f"samples: {len(page_ms)}")
    print(f"queue_p50_ms: {statistics.median(queue_ms):.1f}")
    print(f"queue_p95_ms: {_p95(queue_ms):.1f}")
    for variant, times in by_variant.items():
        if times:
            print(f"queue_{variant}_max_ms: {max(times):.1f}")
    print(f"page_p50_ms: {statistics.median(page_ms):.1f}")
    print(f"page_p95_ms: {_p95(page_ms):.1f}")
    print(f"decision_p50_ms: {statistics.median(decision_ms):.1f}")
    print(f"decision_p95_ms: {_p95(decision_ms):.1f}")
    print(f"queries_per_page: {max(page_queries)}")
    print(f"queries_per_queue: {max(queue_queries)}")
    if not args.keep:
        _cleanup()


if __name__ == "__main__":
    main()

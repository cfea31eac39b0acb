"""The export streams: the memory it holds is bounded by its batch size, not by
the number of reports (bench/export_bench.py measures the process at 20k/100k)."""

from __future__ import annotations

import tracemalloc

import pytest

from analytics.export import ExportFilters, ExportSpec, export_lines
from annotations.models import Report
from inference.models import Stage2Prediction
from tests.annotations.factories import ReportFactory, modality

pytestmark = pytest.mark.django_db

TEXT = "Report {n}: 8 mm nodule in the RUL, no pleural effusion. 우상엽 결절."
FINDINGS = [
    {
        "key": "nodule",
        "status": "present",
        "kind": "lesion",
        "locations": ["right upper lobe"],
        "evidence": "8 mm nodule in the RUL",
        "evidence_span": [11, 33],
    },
    {"key": "pleural effusion", "status": "negated", "kind": "lesion", "evidence": "no pleural effusion"},
]


def make_reports(source: str, n: int) -> None:
    chest = modality("chest_ct")
    reports = [
        ReportFactory.build(
            source=source, external_id=str(i), patient_id=f"p{i % 97}", modality=chest, text=TEXT.format(n=i)
        )
        for i in range(n)
    ]
    created = Report.objects.bulk_create(reports, batch_size=500)
    Stage2Prediction.objects.bulk_create(
        [
            Stage2Prediction(
                report=r, mode="llm_hint", run_key="llm_hint|q|p1|v1", status="ok", findings=FINDINGS
            )
            for r in created
        ],
        batch_size=500,
    )


def peak_bytes(source: str, fmt: str) -> tuple[int, int]:
    """(peak traced bytes while streaming the whole export, lines)."""
    spec = ExportSpec(fmt=fmt, labels=("unverified",), filters=ExportFilters(source=source), batch_size=100)
    tracemalloc.start()
    try:
        lines = sum(1 for _line in export_lines(spec))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, lines


@pytest.mark.parametrize("fmt", ["note_nlp", "jsonl"])
def test_memory_does_not_grow_with_the_number_of_reports(fmt):
    make_reports("small", 100)
    make_reports("large", 1000)
    peak_small, lines_small = peak_bytes("small", fmt)
    peak_large, lines_large = peak_bytes("large", fmt)
    header = 1 if fmt == "note_nlp" else 0
    assert (lines_small, lines_large) == (2 * 100 + header, 2 * 1000 + header)
    # Ten times the reports, about the same memory (a list of the export would be ~10x).
    assert peak_large < 1.5 * peak_small + 256 * 1024, (peak_small, peak_large)

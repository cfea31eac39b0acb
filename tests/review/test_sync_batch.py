"""The batched review sync: the same rows as one sync per report, in a fixed number of
queries, and decisions and supersession kept as the one-report sync keeps them."""

import pytest

from review.models import ReviewFinding, ReviewReport
from review.services.sync import sync_report_findings, sync_reports_findings
from tests.inference.factories import Stage2PredictionFactory, finding
from tests.review.factories import CHEST_TEXT, approve, chest_report_with_predictions

pytestmark = pytest.mark.django_db

FINDING_FIELDS = (
    "kind",
    "key",
    "status",
    "locations",
    "episode",
    "details",
    "evidence",
    "evidence_start",
    "evidence_end",
    "ai",
    "fingerprint",
    "flags",
    "stage1_probability",
    "stage1_threshold",
    "stage1_prediction_id",
    "stage2_prediction_id",
    "model_version_name",
    "prompt_version",
    "superseded",
)
REVIEW_FIELDS = (
    "status",
    "priority",
    "signals",
    "n_total",
    "n_pending",
    "prompt_version",
    "model_version_id",
)


def _state(report):
    review = ReviewReport.objects.get(report=report)
    rows = [
        tuple(getattr(f, n) for n in FINDING_FIELDS) for f in review.findings.order_by("fingerprint", "id")
    ]
    return tuple(getattr(review, n) for n in REVIEW_FIELDS), rows


def _wipe():
    ReviewFinding.objects.all().delete()
    ReviewReport.objects.all().delete()


def test_batch_sync_writes_what_one_sync_per_report_writes():
    reports = [chest_report_with_predictions() for _ in range(3)]
    for report in reports:
        sync_report_findings(report)
    single = [_state(r) for r in reports]
    _wipe()
    sync_reports_findings(reports)
    assert [_state(r) for r in reports] == single
    assert single[0][1]  # there were findings to compare


def test_batch_sync_is_idempotent_and_supersedes_like_the_one_report_sync(clinician):
    reports = [chest_report_with_predictions() for _ in range(2)]
    sync_reports_findings(reports)
    nodule = ReviewFinding.objects.get(report=reports[0], key="nodule")
    approve(nodule, clinician)
    # A later run moves both reports' nodule; the approved one stands, the pending one goes.
    for report in reports:
        Stage2PredictionFactory(
            report=report,
            findings=[
                finding(CHEST_TEXT, "nodule", "Small nodule in the RUL", locations=["right lower lobe"])
            ],
        )
    sync_reports_findings(reports)
    batch = [_state(r) for r in reports]
    sync_reports_findings(reports)
    assert [_state(r) for r in reports] == batch  # idempotent
    for report in reports:
        sync_report_findings(report)
    assert [_state(r) for r in reports] == batch  # the one-report sync agrees
    first = ReviewFinding.objects.filter(report=reports[0], key="nodule").order_by("id")
    assert [(n.status, n.locations, n.superseded) for n in first] == [
        ("approved", ["right upper lobe"], False),
        ("pending", ["right lower lobe"], False),
    ]
    second = ReviewFinding.objects.filter(report=reports[1], key="nodule").order_by("id")
    assert [(n.status, n.superseded) for n in second] == [("pending", True), ("pending", False)]


def test_batch_sync_query_count_does_not_grow_with_the_batch(django_assert_max_num_queries):
    reports = [chest_report_with_predictions() for _ in range(12)]
    for report in reports:
        report.modality  # noqa: B018 (loaded, as the stage 2 batch loads it)
    with django_assert_max_num_queries(16):
        sync_reports_findings(reports)
    assert ReviewReport.objects.filter(report__in=reports, n_total__gt=0).count() == 12

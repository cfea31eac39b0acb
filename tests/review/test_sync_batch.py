"""The batched review sync (sync_reports_findings, what a stage 2 chunk calls) leaves
the queue exactly as syncing each report alone does (no report's state leaks into
another's), in a few queries per group."""

from typing import Any, cast

import pytest
from django.db import transaction

from annotations.models import Report
from inference.models import Stage2Prediction
from review.models import ReviewFinding, ReviewReport
from review.services import sync_report_findings, sync_reports_findings
from tests.annotations.factories import ReportFactory
from tests.inference.factories import (
    ModelVersionFactory,
    Stage1PredictionFactory,
    Stage2PredictionFactory,
    finding,
)
from tests.review.factories import (
    CHEST_TEXT,
    approve,
    chest_report_with_predictions,
    combined_report_with_sources,
)

pytestmark = pytest.mark.django_db


def _state(reports: list[Report]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for report in reports:
        review = ReviewReport.objects.get(report=report)
        findings = sorted(
            (
                f.fingerprint,
                f.key,
                f.kind,
                f.status,
                f.superseded,
                tuple(f.flags),
                f.stage1_probability,
                f.stage1_threshold,
                f.stage1_prediction_id,
                f.stage2_prediction_id,
                f.evidence_start,
                f.model_version_name,
                f.prompt_version,
            )
            for f in ReviewFinding.objects.filter(report=report)
        )
        out[report.pk] = (
            review.status,
            review.n_total,
            review.n_pending,
            review.priority,
            review.signals,
            review.model_version_id,
            review.prompt_version,
            findings,
        )
    return out


def _corpus(clinician) -> list[Report]:
    """Reports in every state a sync meets: new, decided, superseded, failed, combined."""
    first = chest_report_with_predictions(external_id="a")
    second = chest_report_with_predictions(external_id="b")
    both = combined_report_with_sources()
    failed = cast(Report, ReportFactory(external_id="failed"))
    Stage1PredictionFactory(
        report=failed,
        model_version=ModelVersionFactory(),
        probabilities={"mass": 0.8},
        predicted_keys=["mass"],
    )
    for report in (first, second, both):
        sync_report_findings(report)
    approve(ReviewFinding.objects.get(report=first, key="nodule"), clinician)
    Stage2PredictionFactory(  # a newer prediction: the pending nodule of `second` is superseded
        report=second,
        findings=[finding(CHEST_TEXT, "nodule", "Small nodule in the RUL", locations=["lingula"])],
    )
    Stage2PredictionFactory(report=failed, status=Stage2Prediction.Status.FAILED, findings=[], parsed=None)
    nothing = cast(Report, ReportFactory(external_id="nothing"))
    return [first, second, both, failed, nothing]


def test_a_batched_sync_equals_one_sync_per_report(clinician):
    reports = _corpus(clinician)
    with transaction.atomic():
        point = transaction.savepoint()
        for report in reports:
            sync_report_findings(report)
        one_by_one = _state(reports)
        transaction.savepoint_rollback(point)
    sync_reports_findings(reports)
    assert _state(reports) == one_by_one
    assert ReviewFinding.objects.filter(report=reports[1], key="nodule", superseded=True).count() == 1


def test_a_second_batched_sync_changes_nothing(clinician):
    reports = _corpus(clinician)
    sync_reports_findings(reports)
    before = _state(reports)
    sync_reports_findings(reports)
    assert _state(reports) == before


def test_a_group_of_reports_syncs_in_a_few_queries(django_assert_max_num_queries):
    reports = [chest_report_with_predictions(external_id=f"r{i}") for i in range(20)]
    with django_assert_max_num_queries(25):
        sync_reports_findings(reports)
    assert ReviewReport.objects.count() == 20
    assert ReviewFinding.objects.filter(superseded=False).count() == 20 * 4

"""A batch of a mode that maps one report at a time (the combined mode asking no LLM
question) reads its inputs and stores its rows a group at a time: the rows are those
of mapping each report alone, in a bounded number of queries per group."""

from typing import Any

import pytest

from inference.ml.llm.backends import LLMConfigError
from inference.models import Stage2Prediction
from inference.services import stage2
from inference.services.stage2 import (
    RetryPolicy,
    stage2_map_reports,
    stage2_plan,
    stage2_predict_report,
    stage2_reports_run,
)
from inference.services.stage2_modes.combined import CombinedMode
from review.models import ReviewReport
from tests.annotations.factories import ReportFactory
from tests.inference.factories import ModelVersionFactory, ScriptedLLM, Stage1PredictionFactory, install

pytestmark = pytest.mark.django_db

TEXTS = [
    "Atelectasis in both lower lobes. No pleural effusion.",
    "The right upper lobe shows volume loss. There is a nodule. No pleural effusion.",
    "No nodule is seen. Small left pleural effusion.",
    "Emphysema. A 4 mm nodule in the left lower lobe.",
    "Normal chest CT.",
]
# What differs between two runs of the same report: when, how long, which row.
VOLATILE = {"id", "created_at", "stored_at", "seconds", "job"}


@pytest.fixture
def plan(monkeypatch, chest_ct):
    install(monkeypatch, ScriptedLLM())  # the shipped policy asks it nothing
    measured = {"heldout": {"per_key": {"nodule": {"f1": 0.92, "tp": 40, "fp": 2}}}}
    ModelVersionFactory(modality=chest_ct, is_active=True, thresholds={"nodule": 0.5}, metrics=measured)
    run = stage2_plan(modality=chest_ct, mode="combined")
    assert not stage2._asks_llm(run)
    return run


def _corpus(chest_ct, plan, n: int) -> list[Any]:
    """n reports, stage 1 predictions for two in three (agreeing or not with the rules)."""
    reports = [ReportFactory(modality=chest_ct, text=TEXTS[i % len(TEXTS)]) for i in range(n)]
    for i, report in enumerate(reports):
        if i % 3:
            prob = 0.97 if i % 2 else 0.02
            Stage1PredictionFactory(
                report=report, model_version=plan.stage1_version, probabilities={"nodule": prob}
            )
    return reports


def _rows(run_key: str) -> dict[int, dict[str, Any]]:
    out = {}
    for values in Stage2Prediction.objects.filter(run_key=run_key).values():
        row: dict[str, Any] = dict(values)
        timings = {k: v for k, v in row.pop("timings").items() if k not in ("total", "steps")}
        out[row["report_id"]] = {k: v for k, v in row.items() if k not in VOLATILE} | {"timings": timings}
    return out


def test_grouped_rows_equal_one_report_at_a_time(monkeypatch, chest_ct, plan):
    monkeypatch.setattr(stage2, "GROUP_REPORTS", 4)
    reports = _corpus(chest_ct, plan, 11)
    for report in reports:
        stage2_predict_report(report=report, mode="combined", run=plan, notify=False)
    alone = _rows(plan.run_key)
    Stage2Prediction.objects.all().delete()

    counts = stage2_reports_run(job=None, run=plan, reports=reports)

    assert counts["ok"] == 11 and counts["failed"] == 0
    grouped = _rows(plan.run_key)
    assert len(grouped) == 11 and grouped == alone
    assert any(r["findings"] and r["findings"][0]["sources"].get("stage1") for r in grouped.values())


def test_a_group_reads_and_stores_in_two_queries(monkeypatch, chest_ct, plan, django_assert_num_queries):
    monkeypatch.setattr(stage2, "GROUP_REPORTS", 10)
    reports = _corpus(chest_ct, plan, 30)
    retry = RetryPolicy()

    with django_assert_num_queries(3 * 2):  # per group: stage 1 rows, one upsert
        groups = list(stage2_map_reports(reports, run=plan, timeout=5.0, retry=retry))

    assert [len(g) for g in groups] == [10, 10, 10]
    assert Stage2Prediction.objects.filter(run_key=plan.run_key).count() == 30


def test_a_batch_with_review_sync_needs_queries_per_group_not_per_report(
    monkeypatch, chest_ct, plan, django_assert_max_num_queries
):
    reports = _corpus(chest_ct, plan, 60)

    with django_assert_max_num_queries(30):  # one group: 2 queries, and review's batched sync
        counts = stage2_reports_run(job=None, run=plan, reports=reports)

    assert counts["ok"] == 60
    assert ReviewReport.objects.filter(report__in=reports).count() == 60


def test_a_configuration_error_mid_group_keeps_what_was_mapped(monkeypatch, chest_ct, plan):
    reports = _corpus(chest_ct, plan, 5)
    predict = CombinedMode.predict

    def third_fails(self, report, run, **kwargs):
        if report.pk == reports[2].pk:
            raise LLMConfigError("no model")
        return predict(self, report, run, **kwargs)

    monkeypatch.setattr(CombinedMode, "predict", third_fails)

    with pytest.raises(LLMConfigError):
        stage2_reports_run(job=None, run=plan, reports=reports)

    stored = set(Stage2Prediction.objects.filter(run_key=plan.run_key).values_list("report_id", flat=True))
    assert stored == {reports[0].pk, reports[1].pk}
    assert ReviewReport.objects.filter(report_id__in=stored).count() == 2

from io import StringIO

import pytest
from django.core.management import call_command

from annotations.services.rules import trigger_create
from inference.models import Stage2Prediction
from inference.services.stage2 import stage2_predict_report
from review.models import ReviewFinding, ReviewReport
from review.services import sync_report_findings, sync_reports
from tests.annotations.factories import ReportFactory, modality
from tests.inference.factories import (
    CHEST_OUTPUT,
    ModelVersionFactory,
    ScriptedLLM,
    Stage1PredictionFactory,
    Stage2PredictionFactory,
    finding,
    install,
)
from tests.review.factories import CHEST_TEXT, approve, chest_report_with_predictions

pytestmark = pytest.mark.django_db


def _live(review):
    return {f.key: f for f in review.findings.filter(superseded=False)}


def test_sync_builds_one_finding_per_positive_ai_claim_with_provenance():
    report = chest_report_with_predictions()
    review = sync_report_findings(report)
    live = _live(review)
    assert set(live) == {
        "nodule",
        "consolidation",
        "bronchiectasis",
        "atelectasis",
    }  # negated effusion is no finding
    nodule = live["nodule"]
    assert nodule.locations == ["right upper lobe"]
    assert CHEST_TEXT[nodule.evidence_start : nodule.evidence_end] == "Small nodule in the RUL"
    assert nodule.stage1_probability == pytest.approx(0.93)
    assert nodule.stage2_prediction_id == report.stage2_predictions.get().pk
    assert nodule.stage1_prediction_id == report.stage1_predictions.get().pk
    assert nodule.prompt_version == "p1"
    assert live["atelectasis"].flags == ["stage1_only", "near_threshold"]  # 0.55 vs default 0.5
    assert live["atelectasis"].stage2_prediction_id is None
    assert "near_threshold" in live["consolidation"].flags  # 0.45 vs 0.40
    assert review.status == ReviewReport.Status.PENDING
    assert (review.n_total, review.n_pending) == (4, 4)
    assert review.signals["disagreement"] is True


def test_sync_is_idempotent():
    report = chest_report_with_predictions()
    first = sync_report_findings(report)
    ids = sorted(first.findings.values_list("id", flat=True))
    second = sync_report_findings(report)
    assert sorted(second.findings.values_list("id", flat=True)) == ids
    assert ReviewReport.objects.count() == 1


def test_new_prediction_after_verification_is_a_new_suggestion_and_decisions_stand(clinician):
    report = chest_report_with_predictions()
    review = sync_report_findings(report)
    for f in review.findings.all():
        approve(f, clinician)
    review.refresh_from_db()
    assert review.status == ReviewReport.Status.VERIFIED
    # A later run says the nodule is in the right lower lobe instead.
    Stage2PredictionFactory(
        report=report,
        findings=[finding(CHEST_TEXT, "nodule", "Small nodule in the RUL", locations=["right lower lobe"])],
    )
    review = sync_report_findings(report)
    nodules = list(review.findings.filter(key="nodule").order_by("id"))
    assert [(n.status, n.locations, n.superseded) for n in nodules] == [
        ("approved", ["right upper lobe"], False),
        ("pending", ["right lower lobe"], False),
    ]
    assert review.status == ReviewReport.Status.IN_PROGRESS
    assert review.verified_at is not None  # it was verified; the page says so
    # Approved findings the new run no longer names are not touched either.
    assert [f.status for f in review.findings.filter(key="consolidation")] == ["approved"]


def test_pending_suggestion_replaced_by_a_newer_prediction_is_superseded():
    report = chest_report_with_predictions()
    sync_report_findings(report)
    Stage2PredictionFactory(
        report=report,
        findings=[finding(CHEST_TEXT, "nodule", "Small nodule in the RUL", locations=["lingula"])],
    )
    review = sync_report_findings(report)
    assert review.findings.filter(key="nodule", superseded=True).get().locations == ["right upper lobe"]
    assert review.findings.filter(key="nodule", superseded=False).get().locations == ["lingula"]


def test_hallucination_flags_for_unmatched_quote_and_negated_lesion():
    text = "No pleural effusion. Small nodule in the RUL."
    report = ReportFactory(text=text)
    Stage2PredictionFactory(
        report=report,
        findings=[
            finding(text, "pleural effusion", "No pleural effusion", locations=["pleura"]),
            finding(text, "mass", "large mass in the LUL", locations=["left upper lobe"]),
        ],
    )
    live = _live(sync_report_findings(report))
    assert "possible_hallucination" in live["pleural effusion"].flags
    assert "possible_hallucination" in live["mass"].flags
    assert live["mass"].evidence_start is None


def test_failed_llm_output_is_flagged_and_ranks_first():
    calm = chest_report_with_predictions(external_id="calm")
    failed = ReportFactory(external_id="failed")
    mv = ModelVersionFactory()
    Stage1PredictionFactory(
        report=failed, model_version=mv, probabilities={"mass": 0.8}, predicted_keys=["mass"]
    )
    Stage2PredictionFactory(report=failed, status=Stage2Prediction.Status.FAILED, findings=[], parsed=None)
    sync_reports([calm.pk, failed.pk])
    first = ReviewReport.objects.order_by("-priority").first()
    assert first.report_id == failed.pk
    assert first.signals["llm_failed"] is True
    assert _live(first)["mass"].flags == ["stage1_only", "llm_failed"]


def test_report_without_findings_is_not_queued_unless_the_llm_failed():
    report = ReportFactory()
    Stage2PredictionFactory(report=report, findings=[])
    assert sync_report_findings(report).status == ReviewReport.Status.NO_FINDINGS


def test_brain_findings_keep_episode_and_non_tumor_details():
    text = "Glioblastoma in the left frontal lobe, increased in size. Old lacunar infarct."
    report = ReportFactory(text=text, modality=modality("brain_mri"))
    Stage2PredictionFactory(
        report=report,
        findings=[
            finding(
                text,
                "glioma",
                "Glioblastoma in the left frontal lobe",
                kind="diagnosis",
                episode="progression",
            ),
            finding(
                text, "other non-tumor", "lacunar infarct", kind="diagnosis", details=["stroke/infarction"]
            ),
            finding(text, "stroke/infarction", "lacunar infarct", kind="non_tumor"),
        ],
    )
    live = _live(sync_report_findings(report))
    assert live["glioma"].episode == "progression"
    assert live["other non-tumor"].details == ["stroke/infarction"]
    assert live["stroke/infarction"].kind == ReviewFinding.Kind.NON_TUMOR


def test_review_sync_command_backfills_every_report_with_predictions():

    chest_report_with_predictions(external_id="a")
    chest_report_with_predictions(external_id="b")
    ReportFactory(external_id="no-predictions")
    out = StringIO()
    call_command("review_sync", stdout=out)
    assert out.getvalue().strip() == "synced: 2"
    call_command("review_sync", "--modality", "chest_ct", stdout=out)
    assert ReviewReport.objects.count() == 2 and ReviewFinding.objects.count() == 8


def test_the_hallucination_flag_follows_an_edited_trigger():
    text = "Consolidation is not appreciable. Small nodule in the RUL."
    report = ReportFactory(text=text)
    Stage2PredictionFactory(
        report=report,
        findings=[finding(text, "consolidation", "Consolidation is not appreciable", locations=["lingula"])],
    )
    assert "possible_hallucination" not in _live(sync_report_findings(report))["consolidation"].flags
    trigger_create(phrase="not appreciable", category="NEG", direction="BWD")
    assert "possible_hallucination" in _live(sync_report_findings(report))["consolidation"].flags


def test_a_single_report_pipeline_prediction_reaches_the_queue_and_an_evaluation_does_not(monkeypatch):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}))
    evaluated = ReportFactory(modality=modality("chest_ct"), text="8 mm nodule in the RUL. No effusion.")
    stage2_predict_report(report=evaluated, mode="llm", purpose=Stage2Prediction.Purpose.EVALUATION)
    assert not ReviewReport.objects.filter(report=evaluated).exists()
    requested = ReportFactory(modality=modality("chest_ct"), text="8 mm nodule in the RUL. No effusion.")
    stage2_predict_report(report=requested, mode="llm")
    review = ReviewReport.objects.get(report=requested)
    assert set(_live(review)) == {"nodule"}
    assert _live(review)["nodule"].locations == ["right upper lobe"]

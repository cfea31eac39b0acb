"""The longitudinal page: episodes from stored stage 2 results and verified labels."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from analytics import selectors
from inference.models import Stage2Prediction
from tests.annotations.factories import ReportFactory, modality

PRO, STA, IMP = "progression", "stable", "improvement"


def _report(patient, day, episodes, *, ok=True):
    report = ReportFactory(
        modality=modality("brain_mri"),
        patient_id=patient,
        study_datetime=datetime(2021, 1, day, tzinfo=UTC),
        text="MRI brain.",
    )
    findings = [
        {"key": d, "status": "present", "kind": "diagnosis", "episode": e} for d, e in episodes.items()
    ] + [{"key": "stroke/infarction", "status": "present", "kind": "non_tumor", "episode": None}]
    Stage2Prediction.objects.create(
        report=report,
        mode="llm_hint",
        run_key=f"old|{report.pk}",
        status="ok",
        findings=[
            {"key": d, "status": "present", "kind": "diagnosis", "episode": "stable"} for d in episodes
        ],
    )
    Stage2Prediction.objects.create(
        report=report,
        mode="llm_hint",
        run_key=f"new|{report.pk}",
        status="ok" if ok else "failed",
        findings=findings,
    )
    return report


@pytest.fixture
def cohort(db):
    reports = {
        "pt-a": [
            _report("pt-a", 3, {"metastasis": STA}),
            _report("pt-a", 1, {"metastasis": PRO}),
            _report("pt-a", 5, {"metastasis": IMP}),
        ],
        "pt-b": [
            _report("pt-b", 1, {"glioma": PRO}),
            _report("pt-b", 2, {"glioma": PRO}),
            _report("pt-b", 3, {"glioma": STA}),
        ],
        "pt-c": [_report("pt-c", 1, {"lymphoma": IMP}), _report("pt-c", 2, {"lymphoma": PRO})],
    }
    return reports


def test_series_use_the_latest_ok_prediction_and_verified_labels_first(cohort, monkeypatch):
    first = cohort["pt-a"][1]
    monkeypatch.setattr(selectors, "verified_episodes", lambda ids: {first.pk: {"metastasis": "stable"}})
    series = selectors.brain_mri_series()
    a = series["pt-a"]
    assert [r.report_id for r in a] == [cohort["pt-a"][i].pk for i in (1, 0, 2)]  # date order
    assert [(dict(r.episodes), r.source) for r in a] == [
        ({"metastasis": STA}, "verified"),
        ({"metastasis": STA}, "predicted"),
        ({"metastasis": IMP}, "predicted"),
    ]


def test_failed_latest_prediction_falls_back_to_the_previous_ok_one(db):
    report = _report("pt-z", 1, {"glioma": PRO}, ok=False)
    assert selectors.predicted_episodes([report.pk], ["glioma"]) == {report.pk: {"glioma": STA}}


def test_a_later_baseline_prediction_does_not_override_the_pipeline(db):
    report = _report("pt-y", 1, {"glioma": PRO})
    Stage2Prediction.objects.create(
        report=report,
        mode="rules",
        run_key=f"rules|{report.pk}",
        status="ok",
        findings=[{"key": "glioma", "status": "present", "kind": "diagnosis", "episode": IMP}],
    )
    assert selectors.predicted_episodes([report.pk], ["glioma"]) == {report.pk: {"glioma": PRO}}


def test_page_shows_sankey_counts_and_patient_timeline(cohort, client, clinician, monkeypatch):
    monkeypatch.setattr(selectors, "verified_episodes", lambda ids: {cohort["pt-b"][0].pk: {"glioma": PRO}})
    client.force_login(clinician)
    response = client.post(reverse("analytics:longitudinal"), {"patient": "pt-b"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-chart="chart-sankey"' in html
    counts = response.context["links"]
    assert {(k["diagnosis"], k["source"], k["target"]): k["count"] for k in counts} == {
        ("glioma", "glioma", "t0 progression"): 1,
        ("glioma", "t0 progression", "t1 stable"): 1,
        ("metastasis", "metastasis", "t0 progression"): 1,
        ("metastasis", "t0 progression", "t1 stable"): 1,
        ("metastasis", "t1 stable", "t2 improvement"): 1,
    }
    assert "2 patients included" in html and "1 fewer than 3 reports" in html
    timeline = html[html.index('id="patient-timeline"') :]
    assert timeline.count("badge-verified") == 1 and timeline.count("badge-predicted") == 2
    assert "progression → stable" in html


def test_filters_change_the_cohort(cohort, client, admin_user):
    client.force_login(admin_user)
    response = client.get(
        reverse("analytics:longitudinal"), {"applied": "1", "min_reports": "2", "single_diagnosis": "on"}
    )
    assert response.context["cohort"].n_patients == 3
    response = client.get(reverse("analytics:longitudinal"), {"applied": "1", "verified_only": "on"})
    assert response.context["cohort"].n_patients == 0
    assert "No patient passes the filters" in response.content.decode()


def test_bad_filter_input_is_a_message_not_a_500(cohort, client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("analytics:longitudinal"), {"applied": "1", "min_reports": "lots"})
    assert response.status_code == 200
    assert response.context["filters"]["min_reports"] == 3

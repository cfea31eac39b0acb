"""Evaluation runs: statistics computed once from a result, the job lifecycle through
job_run, the dashboard rendered from the stored run, and who may do what."""

import re

import pytest
from django.urls import reverse

from analytics import evaluation
from analytics.models import EvaluationRun
from analytics.services import evaluation as evaluation_service
from analytics.tasks import evaluation_task
from inference.models import LLMQuestionType
from jobs.models import Job
from jobs.services import job_cancel, job_enqueue, job_run
from tests.analytics.factories import fake_results
from tests.annotations.factories import modality


def test_compare_modes_runs_mcnemar_and_bootstrap_for_every_pair():
    results = evaluation.normalize_results(fake_results())
    comparisons = evaluation.compare_modes(results)
    by_pair = {(p["a"], p["b"]): p for p in comparisons["pairs"]}
    assert list(by_pair) == [("bert", "llm"), ("bert", "llm_hint"), ("llm", "llm_hint")]
    # bert right / llm wrong on reports 4 and 6, the reverse on 2 and 3: p = 1 (capped)
    assert by_pair[("bert", "llm")]["mcnemar"] | {} == {
        "b": 2,
        "c": 2,
        "n": 6,
        "method": "exact",
        "statistic": 2.0,
        "p_value": 1.0,
    }
    # llm_hint is right everywhere bert is, and on 2 more: p = 2 * (1/2)^2
    assert by_pair[("bert", "llm_hint")]["mcnemar"]["p_value"] == pytest.approx(0.5)
    boot = by_pair[("bert", "llm_hint")]["bootstrap"]
    assert boot["resamples"] == 1000 and boot["n"] == 6
    assert boot["mean_diff"] == pytest.approx(((2 / 3 - 1) + (0 - 1)) / 6)
    assert boot["ci_low"] <= boot["mean_diff"] <= boot["ci_high"] <= 0
    assert evaluation.compare_modes(results) == comparisons  # seeded: identical when recomputed


def test_negation_breakdown_per_method():
    comparisons = evaluation.compare_modes(evaluation.normalize_results(fake_results()))
    bert = comparisons["negation"]["bert"]
    assert bert["negated"] == {"n": 3, "correct": 1, "accuracy": pytest.approx(1 / 3)}
    assert bert["non_negated"] == {"n": 3, "correct": 3, "accuracy": 1.0}
    assert comparisons["negation"]["llm_hint"]["chi2"] is None  # all correct: undefined


def test_normalize_rejects_vectors_that_do_not_line_up():
    raw = fake_results()
    raw["modes"]["bert"]["correct"] = raw["modes"]["bert"]["correct"][:-1]
    with pytest.raises(evaluation.ResultsError, match="5 correctness values for 6 reports"):
        evaluation.normalize_results(raw)


def test_normalize_accepts_per_report_vectors_nested_and_labels_modes():
    raw = fake_results(modes=["bert"])
    entry = raw["modes"]["bert"]
    entry["per_report"] = {"correct": entry.pop("correct"), "f1": entry.pop("f1")}
    out = evaluation.normalize_results(raw)
    assert out["modes"]["bert"]["label"] == "BERT"
    assert len(out["modes"]["bert"]["correct"]) == 6


# -- the job -----------------------------------------------------------------------------


@pytest.fixture
def fake_evaluate(monkeypatch, db):
    """Replace the stage 2 evaluation registry and the gold set with the fake result."""
    calls = []

    def evaluate(*, modality, report_ids, gold, modes, params, progress):
        calls.append({"modality": modality.code, "report_ids": report_ids, "modes": modes})
        for mode in modes:
            for i in range(1, len(report_ids) + 1):
                progress(mode, i, len(report_ids))
        return fake_results(report_ids, modes)

    monkeypatch.setattr(evaluation_service, "run_evaluate_modes", evaluate)
    monkeypatch.setattr(evaluation_service, "gold_report_ids", lambda **_: [11, 12, 13, 14, 15, 16])
    negated = {12, 13, 16}  # as the fake result's NEGATED flags
    monkeypatch.setattr(
        evaluation_service.selectors,
        "gold_documents",
        lambda report_ids: {
            r: {"diagnoses": {"glioma": {"status": "negated" if r in negated else "present"}}}
            for r in report_ids
        },
    )
    return calls


def _start(user, modes=("bert", "llm", "llm_hint")):
    """Start a run as the view does: the service creates it, the caller enqueues its job."""
    run = evaluation_service.evaluation_start(
        user=user, modality=modality("brain_mri"), gold_set="heldout", modes=list(modes)
    )
    job_enqueue(job=run.job, task=evaluation_task)
    return run


def test_evaluation_job_stores_results_and_statistics(
    fake_evaluate, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = _start(admin_user)
    assert len(callbacks) == 1  # enqueued after commit, not run in the request
    assert run.job.kind == Job.Kind.EVALUATE and run.job.status == Job.Status.QUEUED
    job_run(job_id=run.job.pk, work=evaluation_service.evaluation_execute)
    run.refresh_from_db()
    run.job.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED, run.job.error
    assert (run.job.progress_done, run.job.progress_total) == (18, 18)  # 3 methods x 6 reports
    assert run.job.progress_message == "llm_hint: 6/6"
    assert run.results["negated"] == [False, True, True, False, False, True]  # from the gold documents
    assert fake_evaluate == [
        {
            "modality": "brain_mri",
            "report_ids": [11, 12, 13, 14, 15, 16],
            "modes": ["bert", "llm", "llm_hint"],
        }
    ]
    assert run.report_count == 6 and run.finished_at is not None
    assert run.results["report_ids"] == [11, 12, 13, 14, 15, 16]
    assert run.results["modes"]["bert"]["entity"]["per_key"]["glioma"]["fp"] == 1
    assert len(run.comparisons["pairs"]) == 3
    assert run.job.result["evaluation_run"] == run.pk


def test_evaluation_job_can_be_cancelled_between_reports(fake_evaluate, admin_user, monkeypatch):
    run = _start(admin_user)

    def cancel_midway(*, modality, report_ids, gold, modes, params, progress):
        progress("bert", 1, 6)
        job_cancel(job=run.job)
        progress("bert", 2, 6)  # raises JobCancelled
        raise AssertionError("not reached")

    monkeypatch.setattr(evaluation_service, "run_evaluate_modes", cancel_midway)
    job_run(job_id=run.job.pk, work=evaluation_service.evaluation_execute)
    run.refresh_from_db()
    run.job.refresh_from_db()
    assert run.job.status == Job.Status.CANCELLED
    assert run.results == {} and not run.has_results


def test_start_refuses_unknown_methods(admin_user):
    with pytest.raises(ValueError, match="choose at least one"):
        _start(admin_user, modes=["gpt5"])
    assert not EvaluationRun.objects.exists()


# -- views ---------------------------------------------------------------------------------


def _stored_run(user=None):
    results = evaluation.normalize_results({"modality": "brain_mri", **fake_results()})
    return EvaluationRun.objects.create(
        modality=modality("brain_mri"),
        modes=list(results["modes"]),
        results=results,
        comparisons=evaluation.compare_modes(results),
        report_count=6,
        created_by=user,
    )


@pytest.mark.parametrize("role", ["admin_user", "clinician"])
def test_dashboard_renders_from_the_stored_run(db, client, request, role, django_assert_max_num_queries):
    run = _stored_run()
    client.force_login(request.getfixturevalue(role))
    with django_assert_max_num_queries(8):  # session, user, perms, the run: nothing recomputed
        response = client.get(reverse("analytics:evaluation_detail", args=[run.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for chart in ("chart-key-bars", "chart-confusion", "chart-negation", "chart-bootstrap"):
        assert f'data-chart="{chart}"' in html and f'id="{chart}"' in html
    assert "LLM with BERT hint" in html
    assert "Relations per diagnosis" in html
    assert "exact binomial" in html
    assert "1 / 3" in html  # BERT on negated reports
    # Plotly comes from our own server: no script from another host. (Checking for the bare
    # letters "cdn" failed whenever the page's random CSRF token contained them.)
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert any(src.endswith("/vendor/plotly-radreview-4.1.1.min.js") for src in sources)
    assert not [src for src in sources if src.startswith(("http:", "https:", "//"))]


def test_dashboard_of_a_running_evaluation_says_so(client, admin_user, fake_evaluate):
    run = _start(admin_user)
    client.force_login(admin_user)
    response = client.get(reverse("analytics:evaluation_detail", args=[run.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "This evaluation is queued" in html
    assert 'hx-trigger="every 3s"' in html  # polls until the results are stored


def test_annotators_see_no_analytics(client, annotator):
    run = _stored_run()
    client.force_login(annotator)
    for url in (
        reverse("analytics:evaluation_list"),
        reverse("analytics:evaluation_detail", args=[run.pk]),
        reverse("analytics:longitudinal"),
    ):
        assert client.get(url).status_code == 403, url


def test_only_admins_start_evaluation_runs(client, clinician, admin_user, fake_evaluate):
    data = {"modality": "brain_mri", "gold_set": "heldout", "modes": ["bert", "llm"]}
    client.force_login(clinician)
    assert client.post(reverse("analytics:evaluation_create"), data).status_code == 403
    page = client.get(reverse("analytics:evaluation_list")).content.decode()
    assert "Start an evaluation" not in page
    assert not EvaluationRun.objects.exists()
    client.force_login(admin_user)
    response = client.post(reverse("analytics:evaluation_create"), data)
    run = EvaluationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "analytics:evaluation_detail", args=[run.pk]
    )
    assert run.modes == ["bert", "llm"] and run.created_by == admin_user


def test_bad_start_form_gets_its_errors_not_a_500(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("analytics:evaluation_create"), {"modality": "nope", "modes": []})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not EvaluationRun.objects.exists()


def test_a_run_on_verified_data_sets_the_llm_questions_and_the_dashboard_shows_them(
    monkeypatch, fake_evaluate, admin_user, client
):
    figures = {"asked": 8, "answered": 7, "changed": 5, "right": 1, "wrong": 3, "helps": False}
    base = evaluation_service.run_evaluate_modes

    def with_questions(**kwargs):
        raw = base(**kwargs)
        raw["modes"]["llm"]["questions"] = {"location": figures}
        return raw

    monkeypatch.setattr(evaluation_service, "run_evaluate_modes", with_questions)
    LLMQuestionType.objects.create(code="location", asked=True)
    run = _start(admin_user)
    job_run(job_id=run.job.pk, work=evaluation_service.evaluation_execute)
    row = LLMQuestionType.objects.get(code="location")
    assert (row.asked, row.set_by, row.measured["wrong"], row.measured["gold"]) == (
        False,
        "measurement",
        3,
        "heldout",
    )
    client.force_login(admin_user)
    page = client.get(reverse("analytics:evaluation_detail", args=[run.pk])).content.decode()
    assert 'id="llm-questions"' in page and "Location of a present lesion the rules could not place" in page


def test_the_dashboards_figures_are_built_once_per_stored_result(client, admin_user, monkeypatch):
    from analytics import charts

    run = _stored_run()
    built = []
    real = charts.key_metric_bars
    monkeypatch.setattr(charts, "key_metric_bars", lambda results: built.append(1) or real(results))
    client.force_login(admin_user)
    url = reverse("analytics:evaluation_detail", args=[run.pk])
    first = client.get(url).content.decode()
    second = client.get(url).content.decode()
    assert len(built) == 1 and 'id="chart-key-bars"' in second
    assert first.count('data-chart="') == second.count('data-chart="')
    run.results = {**run.results, "report_count": 99}  # changed results are drawn anew
    run.save(update_fields=["results"])
    client.get(url)
    assert len(built) == 2

"""The evaluation dashboard and the longitudinal view in a real browser (Debian's
Chromium through Playwright): the partial plotly.js bundle (static/vendor, only the
trace types the charts use) draws every chart as SVG. Screenshots go to test-artifacts/."""

import os
from datetime import UTC, datetime

import pytest

from analytics import evaluation, selectors
from analytics.models import EvaluationRun
from inference.models import ModelVersion
from jobs.models import Job
from tests.analytics.factories import fake_results
from tests.annotations.factories import ReportFactory, modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.inference.factories import gold_corpus
from tests.radreview.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1400, "height": 900}


DRAWN = (
    "[...document.querySelectorAll('[data-chart]')]"
    ".filter(el => el.classList.contains('js-plotly-plot') && el.querySelector('svg.main-svg')).length"
)


def _svg_charts(page) -> int:
    """Charts Plotly has drawn: each gets a .js-plotly-plot with an <svg class="main-svg">."""
    return page.evaluate(f"() => {DRAWN}")


def _scroll_through_charts(page) -> None:
    for chart in page.locator("[data-chart]").all():
        chart.scroll_into_view_if_needed()
        chart.locator("svg.main-svg").first.wait_for()  # drawn once it is on screen
    page.evaluate("() => window.scrollTo(0, 0)")


@pytest.mark.django_db(transaction=True)
def test_dashboard_and_longitudinal_charts_render(live_server, page, monkeypatch):
    ARTIFACTS.mkdir(exist_ok=True)
    brain = modality("brain_mri")  # reloads the schema a transactional test flushed
    admin = UserFactory(username="admin-browser", role="admin")
    results = evaluation.normalize_results({"modality": "brain_mri", **fake_results()})
    run = EvaluationRun.objects.create(
        modality=brain,
        modes=list(results["modes"]),
        results=results,
        comparisons=evaluation.compare_modes(results),
        report_count=6,
        created_by=admin,
    )
    # Brain MRI reports of three patients; their episodes stand in for stored stage 2 results.
    episodes = {}
    plan = {
        "p1": ["progression", "stable", "improvement"],
        "p2": ["progression", "progression", "stable"],
        "p3": ["improvement", "progression", "improvement", "stable"],
    }
    diagnosis = {"p1": "metastasis", "p2": "glioma", "p3": "lymphoma"}
    for patient, states in plan.items():
        for day, state in enumerate(states, start=1):
            report = ReportFactory(
                modality=brain,
                patient_id=patient,
                text="MRI brain.",
                study_datetime=datetime(2022, 3, day, tzinfo=UTC),
            )
            episodes[report.pk] = {diagnosis[patient]: state}
    monkeypatch.setattr(selectors, "predicted_episodes", lambda ids, malignant: {i: episodes[i] for i in ids})

    log_in(page, live_server.url, "admin-browser")
    page.goto(f"{live_server.url}/analytics/evaluations/{run.pk}/")
    page.wait_for_selector("[data-chart='chart-key-bars'] svg.main-svg")
    # Charts are drawn as they come near the window: the ones below it wait for the scroll.
    assert page.evaluate("() => performance.getEntriesByName('radreview:charts-visible').length") == 1
    assert page.locator("[data-chart='chart-bootstrap'] svg.main-svg").count() == 0  # far below
    _scroll_through_charts(page)
    page.wait_for_function(f"() => ({DRAWN}) >= 4")
    assert _svg_charts(page) == 4  # key bars, confusion heatmaps, negation, bootstrap CIs
    scripts = page.evaluate("() => [...document.scripts].map(s => s.src).filter(Boolean)")
    assert [s for s in scripts if "plotly" in s] == [
        f"{live_server.url}/static/vendor/plotly-radreview-4.1.1.min.js"
    ]
    assert page.locator("[data-chart='chart-confusion'] .heatmaplayer image").count() > 0  # heatmaps drawn
    assert page.locator("[data-chart='chart-key-bars'] .bars path").count() > 0  # bars were drawn
    page.screenshot(path=str(ARTIFACTS / "analytics-1-dashboard.png"), full_page=True)

    # Choosing a patient is a form post; the URL it lands on names a token, not the patient.
    page.goto(f"{live_server.url}/analytics/longitudinal/")
    page.locator("#patient-list button", has_text="p3").click()
    page.wait_for_selector("#patient-timeline")
    assert "p3" not in page.url and "?f=" in page.url
    page.wait_for_selector("[data-chart='chart-sankey'] svg.main-svg")
    assert page.locator("[data-chart='chart-sankey'] .sankey-link").count() == 9
    assert page.locator("#sankey-counts tbody tr").count() == 9
    assert page.locator("#patient-timeline .badge-predicted").count() == 4
    page.screenshot(path=str(ARTIFACTS / "analytics-2-longitudinal.png"), full_page=True)
    assert page.errors == []


@pytest.fixture(scope="module")
def worker_storage(tmp_path_factory):
    """Model storage shared by the worker process (through its environment, so this
    fixture must come before `worker`) and the live server (settings)."""
    path = tmp_path_factory.mktemp("models")
    saved = {name: os.environ.get(name) for name in ("MODEL_STORAGE_DIR", "OMP_NUM_THREADS")}
    os.environ["MODEL_STORAGE_DIR"] = str(path)
    os.environ["OMP_NUM_THREADS"] = "1"  # the shared 2-core machine
    yield path
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_train_from_the_ui_watch_progress_promote_and_open_the_dashboard(
    worker_storage,
    worker,
    live_server,
    page,
    settings,
):
    """The admin's loop: start a tiny training run on the models page, watch its bar
    reach 100% on the runs page (a real Celery worker trains), compare and promote
    it, start an evaluation, and open its dashboard with every chart drawn."""
    settings.MODEL_STORAGE_DIR = worker_storage
    ARTIFACTS.mkdir(exist_ok=True)
    modality("chest_ct")  # reloads the schema a transactional test flushed
    gold_corpus(40)
    UserFactory(username="admin-e2e", role="admin")

    with worker.log_on_failure():
        log_in(page, live_server.url, "admin-e2e")
        page.goto(f"{live_server.url}/jobs/")
        page.click("a.button:has-text('Start training')")
        page.select_option("#train-form select[name=modality]", "chest_ct")
        page.select_option("#train-form select[name=preset]", "tiny")
        page.select_option("#train-form select[name=label_sources]", "gold")
        page.fill("#train-form input[name=epochs]", "2")
        page.click("#train-form button[type=submit]")
        version = ModelVersion.objects.get()
        job = Job.objects.get(kind=Job.Kind.TRAIN)

        page.goto(f"{live_server.url}/jobs/?kind=train")
        row = f"#job-{job.pk}"
        page.wait_for_selector(f"{row} .progress", timeout=120_000)  # running, with a total
        page.screenshot(path=str(ARTIFACTS / "analytics-e2e-1-training.png"), full_page=True)
        # The row polls itself every 2 s: wait for the bar at 100% and the job done.
        page.wait_for_function(
            f"() => {{ const bar = document.querySelector('{row} .progress');"
            f" return bar && bar.getAttribute('aria-valuenow') === bar.getAttribute('aria-valuemax')"
            f" && document.querySelector('{row} .status-succeeded'); }}",
            timeout=300_000,
        )
        assert "(100%)" in page.inner_text(row)
        page.screenshot(path=str(ARTIFACTS / "analytics-e2e-2-trained.png"), full_page=True)

        page.goto(f"{live_server.url}/analytics/models/{version.pk}/compare/")
        _scroll_through_charts(page)
        page.wait_for_selector("[data-chart='chart-loss'] svg.main-svg")
        page.screenshot(path=str(ARTIFACTS / "analytics-e2e-2b-compare.png"), full_page=True)
        page.click("a:has-text('Promote')")
        page.fill("#promote-form textarea[name=reason]", "First model of the site, held-out F1 checked.")
        page.click("#promote-form button[type=submit]")
        page.wait_for_load_state()
        version.refresh_from_db()
        assert version.is_active

        page.goto(f"{live_server.url}/analytics/")
        page.select_option("select[name=modality]", "chest_ct")
        page.select_option("select[name=gold_set]", "heldout")
        for box in page.locator("input[name=modes]").all():
            box.set_checked(box.get_attribute("value") in ("bert", "keyword", "rules"))
        page.screenshot(path=str(ARTIFACTS / "analytics-e2e-3a-start-evaluation.png"), full_page=True)
        page.click("button:has-text('Start evaluation')")
        run = EvaluationRun.objects.get()
        # The start redirects to the run's page, which polls itself until the
        # worker has stored the results, then draws the dashboard in place.
        page.wait_for_url(f"**/analytics/evaluations/{run.pk}/")
        page.wait_for_selector("[data-chart] svg.main-svg", timeout=180_000)
        _scroll_through_charts(page)  # charts below the window are drawn when scrolled to
        page.wait_for_function(f"() => ({DRAWN}) >= 3")
        page.screenshot(path=str(ARTIFACTS / "analytics-e2e-3-dashboard.png"), full_page=True)
        run.refresh_from_db()
        assert set(run.results["modes"]) == {"bert", "keyword", "rules"}
        assert page.errors == []

"""The stage 2 run page and the LLM settings page in a real browser: an admin starts
a rule-baseline run, sees the configured model with its configuration error, and
chooses which question types the combined mode asks the LLM."""

import os

import pytest

from inference.models import LLMQuestionType
from inference.services import stage2_backend
from tests.annotations.factories import ReportFactory, modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_admin_starts_a_run_and_sees_the_llm_settings(live_server, chromium, settings, tmp_path):
    stage2_backend.llm_backend_reset()
    settings.MODEL_STORAGE_DIR = tmp_path  # no model assembled here: the page must say what to do
    ReportFactory(modality=modality("chest_ct"))
    UserFactory(username="boss-s2", role="admin")
    ARTIFACTS.mkdir(exist_ok=True)
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    log_in(page, live_server.url, "boss-s2")
    page.click("text=Stage 2 runs")
    page.wait_for_selector("h1:has-text('Stage 2')")
    assert "llm_install --preset qwen2.5-coder-1.5b" in page.inner_text("#llm-config-error")
    page.select_option("select[name=modality]", "chest_ct")
    page.check("input[name=mode][value=rules]")
    # The form counts the reports its filters select as they change (htmx).
    page.wait_for_selector("#stage2-count strong:has-text('1')")
    assert "1 report matches" in page.inner_text("#stage2-count")
    page.click("#stage2-form button[type=submit]")
    page.wait_for_selector("#stage2-runs td:has-text('rules')")
    page.screenshot(path=str(ARTIFACTS / "stage2-runs.png"), full_page=True)
    page.click("text=LLM settings and connection test")
    page.wait_for_selector("#llm-summary")
    assert "4096 tokens" in page.inner_text("#llm-summary")
    page.click("#llm-test button")
    page.wait_for_selector("#llm-test-result")
    assert page.inner_text("#llm-test-result").startswith("Failed:")
    page.screenshot(path=str(ARTIFACTS / "llm-status.png"), full_page=True)
    # The question types the combined mode asks: the shipped default asks none; the
    # admin asks one, then hands it back to the measurement.
    row = "#question-location"
    assert "Shipped default" in page.inner_text(row)
    page.click(f"{row} button[value=ask]")
    page.wait_for_selector(f"{row}:has-text('Chosen by an admin')")
    assert page.inner_text(f"{row} td:nth-child(2)") == "yes"
    page.click(f"{row} button[value=measured]")
    page.wait_for_selector(f"{row}:has-text('Shipped default')")
    assert LLMQuestionType.objects.get(code="location").asked is False
    page.screenshot(path=str(ARTIFACTS / "llm-questions.png"), full_page=True)
    stage2_backend.llm_backend_reset()

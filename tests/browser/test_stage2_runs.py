"""The stage 2 run page and the LLM settings page in a real browser: an admin starts
a rule-baseline run and sees the configured model with its configuration error."""

import os

import pytest

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
    stage2_backend.llm_backend_reset()

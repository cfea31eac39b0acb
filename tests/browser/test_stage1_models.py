"""The stage 1 models page in a real browser: an admin opens a trained version,
promotes it with a reason, and sees it active (screenshots in test-artifacts/)."""

from __future__ import annotations

import os

import pytest

from inference.models import ModelPromotion, ModelVersion
from tests.annotations.factories import modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory

KEYS = ["nodule", "consolidation", "pleural effusion"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


@pytest.mark.django_db(transaction=True)
def test_admin_promotes_a_version_from_its_page(live_server, page):
    UserFactory(username="boss-m", role="admin")
    per_key = {
        k: {
            "tp": 5,
            "fp": 1,
            "fn": 0,
            "tn": 9,
            "precision": 0.83,
            "recall": 1.0,
            "f1": 0.91,
            "specificity": 0.9,
            "support": 5,
        }
        for k in KEYS
    }
    report = {"accuracy": 0.7, "precision": 0.9, "recall": 0.95, "f1": 0.924, "specificity": 0.8}
    averages = {"precision": 0.83, "recall": 1.0, "f1": 0.91, "specificity": 0.9}
    version = ModelVersion.objects.create(
        modality=modality("chest_ct"),
        name="chest_ct-v1",
        preset="small",
        status="ready",
        keys=KEYS,
        thresholds={"nodule": 0.42, "consolidation": 0.5, "pleural effusion": 0.37},
        label_sources=["gold", "weak:keyword_negation"],
        data_counts={"gold": 420, "weak": 1800, "approved": 0, "total": 2220},
        metrics={
            "n_heldout": 75,
            "heldout": {"report": report, "per_key": per_key, "micro": averages, "macro": averages},
        },
        curves={
            "finetune": {
                "steps": [{"step": i, "loss": 0.7 / (1 + i / 20)} for i in range(1, 300)],
                "epochs": [],
            }
        },
        code_version="0123456789abcdef",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page, live_server.url, "boss-m")
    page.goto(f"{live_server.url}/models/")
    page.wait_for_selector("h1:has-text('Stage 1 models')")
    assert "91.0" in page.inner_text("#models-chest_ct")
    # The training form offers the cross-fitted members, filled with the service's default.
    assert page.input_value("#id_members") == "5"
    page.screenshot(path=str(ARTIFACTS / "stage1-model-list.png"), full_page=True)
    page.click("text=chest_ct-v1")
    page.wait_for_selector("#per-key-metrics")
    assert page.locator("svg.loss-curve polyline").count() == 1
    page.fill("#promote-form textarea", "Best held-out macro F1 so far")
    page.click("#promote-form button[type=submit]")
    page.wait_for_selector("h1 .tag:has-text('active')")
    assert "Best held-out macro F1 so far" in page.inner_text("#promotions")
    page.screenshot(path=str(ARTIFACTS / "stage1-model-detail.png"), full_page=True)
    version.refresh_from_db()
    assert version.is_active and ModelPromotion.objects.get().reason == "Best held-out macro F1 so far"

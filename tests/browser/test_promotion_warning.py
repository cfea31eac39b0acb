"""Promoting a worse model in a real browser (issue 18): the first click shows the
comparison instead of promoting; "Promote anyway" promotes and the history says the
warning was overridden (screenshots in test-artifacts/)."""

from __future__ import annotations

import os

import pytest

from inference.models import ModelPromotion, ModelVersion
from inference.services.stage1_registry import model_promote
from tests.annotations.factories import modality
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.radreview.factories import UserFactory

KEYS = ["nodule", "consolidation", "pleural effusion"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


def _version(name: str, macro_f1: float) -> ModelVersion:
    averages = {"precision": 0.5, "recall": 0.5, "f1": macro_f1, "specificity": 0.8}
    per_key = {k: {"tp": 3, "fp": 2, "fn": 2, "tn": 8, "support": 5, **averages} for k in KEYS}
    return ModelVersion.objects.create(
        modality=modality("chest_ct"),
        name=name,
        preset="small",
        status="ready",
        keys=KEYS,
        thresholds=dict.fromkeys(KEYS, 0.5),
        label_sources=["gold"],
        data_counts={"gold": 420, "weak": 0, "approved": 0, "total": 420},
        metrics={
            "n_heldout": 75,
            "heldout": {
                "report": averages | {"accuracy": 0.4},
                "per_key": per_key,
                "micro": averages,
                "macro": averages,
            },
        },
    )


@pytest.mark.django_db(transaction=True)
def test_promoting_a_worse_version_asks_first_and_records_the_override(live_server, page):
    admin = UserFactory(username="boss-w", role="admin")
    good = _version("chest_ct-v1", 0.496)
    model_promote(version=good, user=admin, reason="first model")
    worse = _version("chest_ct-v2", 0.295)
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page, live_server.url, "boss-w")

    page.goto(f"{live_server.url}/models/{worse.pk}/")
    page.wait_for_selector("#promotion-worse-note")
    assert page.get_attribute("#mainnav a[aria-current=page]", "href") == "/models/"
    page.fill("#promote-form textarea", "It knows the new keys")
    page.click("#promote-form button[type=submit]")

    warning = page.wait_for_selector("#promotion-warning")
    text = warning.inner_text()
    assert "chest_ct-v2 is worse than the active chest_ct-v1" in text
    assert "29.5" in text and "49.6" in text and "-20.1" in text and "It knows the new keys" in text
    assert page.evaluate("window.scrollY") > 0  # the page opens at the warning, not at its top
    page.screenshot(path=str(ARTIFACTS / "promotion-warning.png"), full_page=True)
    good.refresh_from_db()
    assert good.is_active and ModelPromotion.objects.count() == 1  # nothing promoted yet

    page.click("#promote-anyway")
    page.wait_for_selector("h1 .tag:has-text('active')")
    history = page.inner_text("#promotions")
    assert "worse, confirmed" in history and "It knows the new keys" in history
    page.screenshot(path=str(ARTIFACTS / "promotion-confirmed.png"), full_page=True)
    record = ModelPromotion.objects.get(model_version=worse)
    assert record.overrode_warning and record.warning["baseline_macro_f1"] == 0.496
    # The refused promotion's 409 is the one "error" Chromium logs; no script failed.
    assert [e for e in page.errors if "409 (Conflict)" not in e] == [] and page.dialogs == []

"""The Content-Security-Policy leaves the app working in a real browser: the pages
whose scripts moved out of the templates (assign, agreement, a job's cancel
button), Swagger UI, and the error pages (issue 17; docs/security.md)."""

from __future__ import annotations

import os

import pytest

from jobs.models import Job
from tests.browser.support import ARTIFACTS, CHROMIUM, log_in
from tests.jobs.factories import JobFactory
from tests.radreview.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


def csp_violations(page) -> list[str]:
    return [e for e in page.errors if "Content Security Policy" in e]


@pytest.mark.django_db(transaction=True)
def test_admin_pages_run_their_scripts_under_the_policy(live_server, page):
    ARTIFACTS.mkdir(exist_ok=True)
    UserFactory(username="boss-csp", role="admin")
    log_in(page, live_server.url, "boss-csp")

    page.goto(f"{live_server.url}/annotations/assign/")
    page.select_option("#id_how", "batch")  # assign.js shows only the chosen way's inputs
    assert page.is_visible("[data-field='external_ids']") and not page.is_visible("[data-field='query']")

    job = JobFactory(status=Job.Status.QUEUED)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.click("button:has-text('Cancel job')")  # app.js asks first; the fixture says no
    assert page.dialogs == [f"Cancel job #{job.pk}?"]
    job.refresh_from_db()
    assert not job.cancel_requested

    page.goto(f"{live_server.url}/annotations/agreement/")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")  # Swagger UI's start-up script ran
    page.screenshot(path=str(ARTIFACTS / "security-swagger.png"))
    assert page.errors == []

    page.goto(f"{live_server.url}/annotations/reports/987654/")
    assert "This page does not exist" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "security-404.png"))
    assert csp_violations(page) == []  # (the 404 itself is a console error)

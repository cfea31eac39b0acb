"""Two clinicians deciding the same finding at the same moment, in two real
transactions (PostgreSQL: row locks are real there; SQLite serialises writers)."""

import threading
from typing import Any

import pytest
from django.db import connection, connections

from review.models import ReviewDecision
from review.services import ReviewConflict, finding_decide, sync_report_findings
from tests.annotations.factories import modality
from tests.radreview.factories import UserFactory
from tests.review.factories import chest_report_with_predictions

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")


@pytest.mark.django_db(transaction=True)
def test_simultaneous_decisions_on_one_finding_save_exactly_one():
    modality("chest_ct")
    first, second = UserFactory(username="c1", role="clinician"), UserFactory(username="c2", role="clinician")
    review = sync_report_findings(chest_report_with_predictions())
    nodule = review.findings.get(key="nodule")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(user, action: str) -> None:
        try:
            barrier.wait()
            kwargs: dict[str, Any] = {"reason_code": "hallucinated"} if action == "reject" else {}
            finding_decide(finding_id=nodule.pk, user=user, action=action, version=1, **kwargs)
            outcomes[user.username] = "saved"
        except ReviewConflict as exc:
            outcomes[user.username] = str(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=(first, "approve")),
        threading.Thread(target=decide, args=(second, "reject")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(v == "saved" for v in outcomes.values()) == [False, True], outcomes
    loser = next(v for v in outcomes.values() if v != "saved")
    assert "not saved" in loser
    assert ReviewDecision.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_first_syncs_of_one_report_at_once_leave_one_review_and_one_set_of_findings():
    """A first sync writes its new review once, at the end, under the report's advisory
    lock (no empty row to lock before): a second sync waits for it and updates."""
    from review.models import ReviewFinding, ReviewReport
    from review.services import sync_reports_findings

    modality("chest_ct")
    report = chest_report_with_predictions()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            barrier.wait()
            sync_reports_findings([report])
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert ReviewReport.objects.filter(report=report).count() == 1
    live = ReviewFinding.objects.filter(report=report, superseded=False)
    assert live.count() > 0
    assert live.values("fingerprint").distinct().count() == live.count()  # nothing twice
    review = ReviewReport.objects.get(report=report)
    assert review.n_total == live.count() and review.synced_at is not None

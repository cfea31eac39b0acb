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

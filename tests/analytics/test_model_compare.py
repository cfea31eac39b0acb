"""Candidate vs active stage 1 version on the held-out gold set."""

import pytest
from django.urls import reverse

from analytics import selectors
from annotations.models import Assignment
from inference.models import ModelVersion, Stage1Prediction
from inference.services.stage1 import gold_key_sets
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key, modality
from tests.radreview.factories import UserFactory

KEYS = ["nodule", "mass", "consolidation"]
# report -> gold keys (negated ones listed separately), candidate and active predictions
CASES = [
    ({"nodule"}, set(), {"nodule"}, {"nodule"}),
    ({"mass"}, set(), {"mass"}, set()),
    (set(), {"nodule"}, set(), {"nodule"}),  # negated nodule: the active version says present
    ({"consolidation"}, set(), {"consolidation"}, {"consolidation", "mass"}),
    ({"nodule", "mass"}, set(), {"nodule"}, {"nodule"}),
]


@pytest.fixture
def versions(db):
    chest = modality("chest_ct")
    gold_author = UserFactory(username="gold-author")
    active = ModelVersion.objects.create(
        modality=chest,
        name="chest-v1",
        preset="tiny",
        status="ready",
        is_active=True,
        keys=KEYS,
        curves={"steps": [{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.5}]},
    )
    candidate = ModelVersion.objects.create(
        modality=chest,
        name="chest-v2",
        preset="tiny",
        status="ready",
        keys=KEYS,
        curves={
            "steps": [{"step": s, "loss": 1 / s} for s in range(1, 6)],
            "epochs": [{"epoch": 1, "step": 5, "val_loss": 0.4}],
        },
    )
    report_ids = []
    for gold, negated, cand, act in CASES:
        report = ReportFactory(modality=chest)
        assignment = AssignmentFactory(
            report=report,
            annotator=gold_author,
            kind=Assignment.Kind.IMPORTED,
            status=Assignment.Status.SUBMITTED,
        )
        for key in gold:
            MentionFactory(assignment=assignment, key=entity_key(key))
        for key in negated:
            MentionFactory(assignment=assignment, key=entity_key(key), negated=True)
        Stage1Prediction.objects.create(
            report=report, model_version=candidate, probabilities={}, predicted_keys=sorted(cand)
        )
        Stage1Prediction.objects.create(
            report=report, model_version=active, probabilities={}, predicted_keys=sorted(act)
        )
        report_ids.append(report.pk)
    return candidate, active, report_ids


def test_negated_gold_is_a_negative(versions):
    _, _, ids = versions
    gold = gold_key_sets(ids)
    assert [gold[i] for i in ids] == [c[0] for c in CASES]


def test_comparison_on_the_heldout_set(versions, monkeypatch):
    candidate, active, ids = versions
    monkeypatch.setattr(selectors, "heldout_report_ids", lambda modality: ids)
    result = selectors.model_comparison(candidate=candidate, baseline=active)
    assert result["available"] and result["n_compared"] == 5
    rows = {r["key"]: r for r in result["rows"]}
    # candidate: mass TP1 FN1 -> recall 0.5; active: mass TP0 FP1 FN2 -> F1 0
    assert rows["mass"]["candidate"]["recall"] == 0.5
    assert rows["mass"]["baseline"]["f1"] == 0
    assert rows["mass"]["delta_f1"] == pytest.approx(2 / 3)
    # nodule: candidate TP2 (F1 1), active TP2 FP1 (F1 0.8)
    assert rows["nodule"]["delta_f1"] == pytest.approx(0.2)
    # correctness: candidate right on 1, 2, 3, 4; active on 1 only: b = 3, c = 0, exact p = 2 / 8
    mc = result["mcnemar"]
    assert (mc.b, mc.c, mc.method) == (3, 0, "exact")
    assert mc.p_value == pytest.approx(0.25)
    assert result["bootstrap"].resamples == 1000
    assert result["bootstrap"].mean_diff > 0


def test_comparison_page_shows_deltas_statistics_and_loss_curves(versions, monkeypatch, client, admin_user):
    candidate, _, ids = versions
    monkeypatch.setattr(selectors, "heldout_report_ids", lambda modality: ids)
    client.force_login(admin_user)
    response = client.get(reverse("analytics:model_compare", args=[candidate.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "chest-v1 (active)" in html
    assert "+0.667" in html  # ΔF1 of mass
    assert "McNemar" in html and "p = 0.2500" in html
    assert 'data-chart="chart-loss"' in html and 'data-chart="chart-deltas"' in html


def test_comparison_page_explains_an_empty_heldout_set(versions, monkeypatch, client, clinician):
    candidate, _, _ = versions
    monkeypatch.setattr(selectors, "heldout_report_ids", lambda modality: [])
    client.force_login(clinician)
    response = client.get(reverse("analytics:model_compare", args=[candidate.pk]))
    assert response.status_code == 200
    assert "held-out gold set of this modality is empty" in response.content.decode()


def test_comparison_page_is_forbidden_to_annotators(versions, client, annotator):
    client.force_login(annotator)
    assert client.get(reverse("analytics:model_compare", args=[versions[0].pk])).status_code == 403

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from review.labels import approved_key_labels, approved_label_provenance, verified_episodes
from review.models import ReviewDecision, ReviewReport
from review.services import (
    ReviewConflict,
    finding_add,
    finding_decide,
    grid_toggle,
    lease_acquire,
    report_confirm_no_findings,
    sync_report_findings,
)
from tests.annotations.factories import ReportFactory, modality
from tests.inference.factories import Stage2PredictionFactory, finding
from tests.radreview.factories import UserFactory
from tests.review.factories import approve, chest_report_with_predictions

pytestmark = pytest.mark.django_db


@pytest.fixture
def review():
    return sync_report_findings(chest_report_with_predictions())


def _f(review, key):
    return review.findings.get(key=key, superseded=False)


def test_each_decision_is_audited_with_before_after_and_versions(review, clinician):
    nodule = _f(review, "nodule")
    finding_decide(finding_id=nodule.pk, user=clinician, action="approve", version=1)
    cons = _f(review, "consolidation")
    finding_decide(
        finding_id=cons.pk,
        user=clinician,
        action="edit",
        version=1,
        locations=["left lower lobe", "lingula"],
        confirm=True,
    )
    bron = _f(review, "bronchiectasis")
    finding_decide(
        finding_id=bron.pk,
        user=clinician,
        action="reject",
        version=1,
        reason_code="hallucinated",
        comment="not there",
    )
    rows = list(ReviewDecision.objects.order_by("id"))
    assert [(d.action, d.user, d.finding.key) for d in rows] == [
        ("approve", clinician, "nodule"),
        ("edit", clinician, "consolidation"),
        ("reject", clinician, "bronchiectasis"),
    ]
    assert rows[1].before["locations"] == ["left lower lobe"]
    assert rows[1].after["locations"] == ["left lower lobe", "lingula"]
    assert rows[1].after["status"] == "edited"
    assert rows[2].reason_code == "hallucinated" and rows[2].comment == "not there"
    assert rows[0].model_version_name.startswith("stage1-test-") and rows[0].prompt_version == "p1"
    review.refresh_from_db()
    assert review.status == ReviewReport.Status.IN_PROGRESS  # atelectasis still pending


def test_report_is_verified_when_every_finding_has_a_decision(review, clinician):
    for f in review.findings.all():
        approve(f, clinician)
    review.refresh_from_db()
    assert review.status == ReviewReport.Status.VERIFIED
    assert review.verified_by == clinician and review.n_pending == 0


def test_reject_needs_a_reason_and_other_needs_a_comment(review, clinician):
    nodule = _f(review, "nodule")
    with pytest.raises(ValidationError, match="reason"):
        finding_decide(finding_id=nodule.pk, user=clinician, action="reject", version=1)
    with pytest.raises(ValidationError, match="comment"):
        finding_decide(finding_id=nodule.pk, user=clinician, action="reject", version=1, reason_code="other")
    assert not ReviewDecision.objects.exists()
    assert _f(review, "nodule").status == "pending"


def test_edit_rejects_locations_outside_the_schema(review, clinician):
    with pytest.raises(ValidationError, match="Unknown location"):
        finding_decide(
            finding_id=_f(review, "nodule").pk, user=clinician, action="edit", version=1, locations=["spleen"]
        )


def test_stale_version_is_refused_and_names_who_changed_it(review, clinician):
    nodule = _f(review, "nodule")
    finding_decide(finding_id=nodule.pk, user=clinician, action="approve", version=1)
    with pytest.raises(ReviewConflict, match="changed by clin"):
        finding_decide(
            finding_id=nodule.pk, user=clinician, action="reject", version=1, reason_code="hallucinated"
        )
    assert _f(review, "nodule").status == "approved"
    assert ReviewDecision.objects.count() == 1


def test_second_clinician_is_told_and_cannot_overwrite_the_first(review, clinician):
    other = UserFactory(username="clin2", role="clinician")
    assert lease_acquire(review=review, user=clinician) is None
    assert lease_acquire(review=review, user=other) == clinician
    with pytest.raises(ReviewConflict, match="clin is reviewing this report"):
        finding_decide(finding_id=_f(review, "nodule").pk, user=other, action="approve", version=1)
    assert not ReviewDecision.objects.exists()


def test_annotators_and_admins_cannot_decide(review, annotator, admin_user):
    for user in (annotator, admin_user):
        with pytest.raises(PermissionDenied):
            finding_decide(finding_id=_f(review, "nodule").pk, user=user, action="approve", version=1)


def test_add_a_missed_finding_from_selected_text(review, clinician):
    text = review.report.text
    start = text.index("No pleural effusion")
    added = finding_add(
        review_id=review.pk,
        user=clinician,
        key="pleural effusion",
        locations=["pleura"],
        start=start,
        end=start + 19,
    )
    assert (added.status, added.evidence) == ("added", "No pleural effusion")
    d = ReviewDecision.objects.get()
    assert (d.action, d.before, d.after["key"]) == ("add", None, "pleural effusion")
    with pytest.raises(ValidationError, match="already listed"):
        finding_add(review_id=review.pk, user=clinician, key="nodule")
    with pytest.raises(ValidationError, match="outside the report"):
        finding_add(review_id=review.pk, user=clinician, key="mass", start=5, end=10_000)


def test_grid_toggle_edits_the_lesion_or_adds_it(review, clinician):
    grid_toggle(review_id=review.pk, user=clinician, lesion="nodule", location="lingula", version=None)
    assert _f(review, "nodule").locations == ["right upper lobe", "lingula"]
    grid_toggle(
        review_id=review.pk, user=clinician, lesion="nodule", location="right upper lobe", version=None
    )
    assert _f(review, "nodule").locations == ["lingula"]
    grid_toggle(
        review_id=review.pk,
        user=clinician,
        lesion="mass",
        location="left upper lobe",
        version=None,
        start=0,
        end=5,
    )
    assert (_f(review, "mass").status, _f(review, "mass").locations) == ("added", ["left upper lobe"])


def test_grid_tick_of_a_lung_next_to_its_lobe_replaces_the_lobe(review, clinician):
    grid_toggle(review_id=review.pk, user=clinician, lesion="nodule", location="right lung", version=None)
    assert _f(review, "nodule").locations == ["right lung"]


def test_grid_tick_of_a_lobe_next_to_its_lung_replaces_the_lung(review, clinician):
    cons = _f(review, "consolidation")
    finding_decide(
        finding_id=cons.pk, user=clinician, action="edit", version=1, locations=["left lung"], confirm=True
    )
    grid_toggle(review_id=review.pk, user=clinician, lesion="consolidation", location="lingula", version=None)
    assert _f(review, "consolidation").locations == ["lingula"]


def test_edited_and_added_locations_are_normalised(review, clinician):
    bron = _f(review, "bronchiectasis")
    finding_decide(
        finding_id=bron.pk,
        user=clinician,
        action="edit",
        version=1,
        locations=["both lungs", "right upper lobe", "left lower lobe"],
    )
    assert _f(review, "bronchiectasis").locations == ["right upper lobe", "left lower lobe"]
    added = finding_add(
        review_id=review.pk,
        user=clinician,
        key="mass",
        locations=["right lung", "right upper lobe"],
        start=0,
        end=5,
    )
    assert added.locations == ["right upper lobe"]


def test_grid_untick_is_a_plain_removal(review, clinician):
    grid_toggle(
        review_id=review.pk,
        user=clinician,
        lesion="bronchiectasis",
        location="right upper lobe",
        version=None,
    )
    assert _f(review, "bronchiectasis").locations == ["both lungs", "right upper lobe"]
    grid_toggle(
        review_id=review.pk,
        user=clinician,
        lesion="bronchiectasis",
        location="right upper lobe",
        version=None,
    )
    assert _f(review, "bronchiectasis").locations == ["both lungs"]


def test_confirm_no_findings_verifies_an_empty_failed_report(clinician):
    report = ReportFactory()
    Stage2PredictionFactory(report=report, status="failed", findings=[])
    review = sync_report_findings(report)
    assert review.status == ReviewReport.Status.PENDING
    review = report_confirm_no_findings(review_id=review.pk, user=clinician)
    assert review.status == ReviewReport.Status.VERIFIED
    assert ReviewDecision.objects.get().action == "confirm_none"


def test_approved_key_labels_for_stage1_training(review, clinician):
    finding_decide(finding_id=_f(review, "nodule").pk, user=clinician, action="approve", version=1)
    finding_decide(
        finding_id=_f(review, "consolidation").pk,
        user=clinician,
        action="edit",
        version=1,
        locations=["lingula"],
        confirm=True,
    )
    assert approved_key_labels(modality="chest_ct") == {}  # not verified yet
    finding_decide(
        finding_id=_f(review, "bronchiectasis").pk,
        user=clinician,
        action="reject",
        version=1,
        reason_code="other",
        comment="old",
    )
    finding_decide(
        finding_id=_f(review, "atelectasis").pk,
        user=clinician,
        action="reject",
        version=1,
        reason_code="hallucinated",
    )
    labels = approved_key_labels(modality=modality("chest_ct"))
    assert labels == {review.report_id: {"nodule", "right upper lobe", "consolidation", "lingula"}}


def test_verified_episodes_for_the_longitudinal_view(clinician):
    text = "Glioblastoma, increased in size."
    report = ReportFactory(text=text, modality=modality("brain_mri"))
    Stage2PredictionFactory(
        report=report,
        findings=[finding(text, "glioma", "Glioblastoma", kind="diagnosis", episode="progression")],
    )
    review = sync_report_findings(report)
    glioma = review.findings.get()
    assert verified_episodes([report.pk]) == {}
    finding_decide(finding_id=glioma.pk, user=clinician, action="edit", version=1, episode="stable")
    assert verified_episodes([report.pk]) == {report.pk: {"glioma": "stable"}}


def test_changing_a_decision_appends_and_never_rewrites_the_audit(review, clinician):
    nodule = _f(review, "nodule")
    finding_decide(finding_id=nodule.pk, user=clinician, action="approve", version=1)
    finding_decide(
        finding_id=nodule.pk, user=clinician, action="reject", version=2, reason_code="missed_negation"
    )
    first, second = ReviewDecision.objects.order_by("id")
    assert (first.action, first.after["status"], first.finding_version) == ("approve", "approved", 1)
    assert (second.before["status"], second.after["status"], second.finding_version) == (
        "approved",
        "rejected",
        2,
    )


def test_verifying_releases_the_lease(review, clinician):
    lease_acquire(review=review, user=clinician)
    for f in review.findings.all():
        approve(f, clinician)
    review.refresh_from_db()
    assert (review.status, review.lease_user) == (ReviewReport.Status.VERIFIED, None)
    other = UserFactory(username="clin2", role="clinician")
    assert lease_acquire(review=review, user=other) is None


def test_label_provenance_names_who_verified(review, clinician):
    for f in review.findings.all():
        approve(f, clinician)
    assert approved_label_provenance(modality="chest_ct")[review.report_id]["verified_by"] == "clin"

"""Issue 18, item 1: nothing unsafe in one keystroke on the review screen.

A flagged finding is approved only with an explicit confirmation; a finding
whose evidence is not in the report is verified only with a span the clinician
selected, which becomes its evidence; reject reasons include wrong evidence and
wrong key; bulk decisions skip what needs a second look; undo; the add form is
pre-filled from the selected span; a decided finding's buttons match its state;
no export calls a finding verified without its offsets.
"""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.export import ExportSpec, export_lines
from review.models import ReviewDecision, ReviewFinding, ReviewReport
from review.services import (
    ConfirmationRequired,
    EvidenceRequired,
    ReviewConflict,
    finding_add,
    finding_decide,
    finding_undo,
    findings_bulk_decide,
    sync_report_findings,
)
from tests.annotations.factories import ReportFactory
from tests.inference.factories import (
    ModelVersionFactory,
    Stage1PredictionFactory,
    Stage2PredictionFactory,
    finding,
)
from tests.review.factories import CHEST_TEXT, approve, chest_report_with_predictions

pytestmark = pytest.mark.django_db

HALLU_TEXT = "Mild bronchiectasis in both lungs. No pleural effusion."


@pytest.fixture
def review():
    return sync_report_findings(chest_report_with_predictions(external_id="safe-1"))


@pytest.fixture
def hallucinated():
    """A report whose mass the LLM quoted from nowhere (its few-shot example, say)."""
    report = ReportFactory(text=HALLU_TEXT, external_id="hallu-1")
    mv = ModelVersionFactory(thresholds={"mass": 0.5, "bronchiectasis": 0.5})
    Stage1PredictionFactory(
        report=report,
        model_version=mv,
        probabilities={"mass": 0.9, "bronchiectasis": 0.9},
        predicted_keys=["mass", "bronchiectasis"],
    )
    Stage2PredictionFactory(
        report=report,
        stage1_version=mv,
        findings=[
            finding(HALLU_TEXT, "mass", "Large mass in the right upper lobe", locations=["right upper lobe"]),
            finding(
                HALLU_TEXT, "bronchiectasis", "Mild bronchiectasis in both lungs", locations=["both lungs"]
            ),
        ],
    )
    return sync_report_findings(report)


def _f(review, key):
    return review.findings.get(key=key, superseded=False)


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


# -- flagged approval -------------------------------------------------------------------------


def test_flagged_finding_is_not_approved_without_confirmation_and_the_refusal_names_the_flag(
    hallucinated, clinician
):
    mass = _f(hallucinated, "mass")
    assert "possible_hallucination" in mass.flags and mass.evidence_start is None
    with pytest.raises(ConfirmationRequired, match="possible hallucination") as refused:
        finding_decide(finding_id=mass.pk, user=clinician, action="approve", version=1)
    assert "evidence not found in the report" in refused.value.warnings
    assert (_f(hallucinated, "mass").status, ReviewDecision.objects.count()) == ("pending", 0)


def test_confirmation_alone_does_not_verify_a_quote_that_is_not_in_the_report(hallucinated, clinician):
    mass = _f(hallucinated, "mass")
    with pytest.raises(EvidenceRequired, match="Large mass in the right upper lobe” is not in the report"):
        finding_decide(finding_id=mass.pk, user=clinician, action="approve", version=1, confirm=True)
    assert _f(hallucinated, "mass").status == "pending"


def test_approval_with_a_selected_span_stores_it_as_the_evidence(hallucinated, clinician):
    mass = _f(hallucinated, "mass")
    start = HALLU_TEXT.index("bronchiectasis")
    finding_decide(
        finding_id=mass.pk,
        user=clinician,
        action="approve",
        version=1,
        confirm=True,
        start=start,
        end=start + 14,
    )
    mass = _f(hallucinated, "mass")
    assert (mass.status, mass.evidence, mass.evidence_start, mass.evidence_end) == (
        "approved",
        "bronchiectasis",
        start,
        start + 14,
    )
    decision = ReviewDecision.objects.get()
    assert decision.before["evidence"] == "Large mass in the right upper lobe"
    assert decision.after["evidence_span"] == [start, start + 14]


@pytest.mark.parametrize("span", [(5, 10_000), (10, 10), (8, 3), (34, 35)])
def test_a_span_outside_the_report_or_blank_is_refused(hallucinated, clinician, span):
    mass = _f(hallucinated, "mass")
    with pytest.raises(ValidationError):
        finding_decide(
            finding_id=mass.pk,
            user=clinician,
            action="approve",
            version=1,
            confirm=True,
            start=span[0],
            end=span[1],
        )
    assert _f(hallucinated, "mass").status == "pending"


def test_an_unflagged_finding_with_evidence_is_approved_in_one_step(review, clinician):
    nodule = _f(review, "nodule")
    assert nodule.flags == []
    finding_decide(finding_id=nodule.pk, user=clinician, action="approve", version=1)
    assert _f(review, "nodule").status == "approved"


def test_editing_a_flagged_finding_also_needs_the_confirmation(review, clinician):
    cons = _f(review, "consolidation")
    assert cons.flags == ["near_threshold"]
    with pytest.raises(ConfirmationRequired, match="stage 1 near its threshold"):
        finding_decide(finding_id=cons.pk, user=clinician, action="edit", version=1, locations=["lingula"])
    assert _f(review, "consolidation").status == "pending"


def test_stage1_only_finding_needs_a_span_to_be_verified(review, clinician):
    atelectasis = _f(review, "atelectasis")
    with pytest.raises(EvidenceRequired, match="select the text that shows “atelectasis”"):
        finding_decide(finding_id=atelectasis.pk, user=clinician, action="approve", version=1, confirm=True)


def test_api_refuses_flagged_and_evidence_less_approval_with_409_and_a_message(hallucinated, clinician):
    mass = _f(hallucinated, "mass")
    url = f"/api/review/findings/{mass.pk}/decision/"
    plain = _api(clinician).post(url, {"action": "approve", "version": 1}, format="json")
    assert plain.status_code == 409 and "possible hallucination" in plain.json()["detail"]
    confirmed = _api(clinician).post(url, {"action": "approve", "version": 1, "confirm": True}, format="json")
    assert confirmed.status_code == 409 and "select the text" in confirmed.json()["detail"]
    body = {"action": "approve", "version": 1, "confirm": True, "start": 0, "end": 4}
    done = _api(clinician).post(url, body, format="json")
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["evidence"], done.json()["evidence_span"]) == (
        "approved",
        "Mild",
        [0, 4],
    )


def test_html_decision_of_a_flagged_finding_without_confirmation_shows_why(client, hallucinated, clinician):
    client.force_login(clinician)
    mass = _f(hallucinated, "mass")
    url = reverse("review:decide", args=[hallucinated.report_id, mass.pk])
    html = client.post(url, {"action": "approve", "version": 1}, HTTP_HX_REQUEST="true").content.decode()
    assert "“mass” is flagged: evidence not found in the report; possible hallucination." in html
    assert _f(hallucinated, "mass").status == "pending"


# -- reasons ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["wrong_evidence", "wrong_key"])
def test_wrong_evidence_and_wrong_key_are_reject_reasons(review, clinician, code):
    nodule = _f(review, "nodule")
    finding_decide(finding_id=nodule.pk, user=clinician, action="reject", version=1, reason_code=code)
    assert (_f(review, "nodule").status, ReviewDecision.objects.get().reason_code) == ("rejected", code)


def test_the_page_numbers_every_reason_for_its_key(client, review, clinician):
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[review.report_id])).content.decode()
    for n, (code, _label) in enumerate(ReviewDecision.Reason.choices, start=1):
        assert f'<li data-reason="{code}"><kbd>{n}</kbd>' in html
        assert f'value="{code}" class="reason-btn" data-n="{n}"' in html


# -- bulk -------------------------------------------------------------------------------------


def test_bulk_approve_skips_flagged_and_evidence_less_findings_and_counts_them(review, clinician):
    versions = {f.pk: f.version for f in review.findings.all()}
    result = findings_bulk_decide(review_id=review.pk, user=clinician, action="approve", versions=versions)
    assert sorted(result.done) == ["bronchiectasis", "nodule"]
    assert sorted(result.skipped) == [("atelectasis", "flagged"), ("consolidation", "flagged")]
    assert result.message.startswith("Approved 2 findings. Skipped 2: 2 flagged (")
    statuses = dict(review.findings.values_list("key", "status"))
    assert statuses == {
        "nodule": "approved",
        "bronchiectasis": "approved",
        "consolidation": "pending",
        "atelectasis": "pending",
    }


def test_bulk_approve_skips_an_unflagged_finding_without_evidence(review, clinician):
    added = ReviewFinding.objects.create(review=review, report=review.report, kind="lesion", key="mass")
    result = findings_bulk_decide(
        review_id=review.pk, user=clinician, action="approve", versions={added.pk: added.version}
    )
    assert (result.done, result.skipped) == ([], [("mass", "no evidence in the report")])


def test_bulk_reject_applies_one_reason_to_every_selected_finding(review, clinician):
    versions = {f.pk: f.version for f in review.findings.filter(key__in=["nodule", "atelectasis"])}
    result = findings_bulk_decide(
        review_id=review.pk, user=clinician, action="reject", versions=versions, reason_code="wrong_key"
    )
    assert sorted(result.done) == ["atelectasis", "nodule"]
    rows = ReviewDecision.objects.values_list("finding__key", "action", "reason_code").order_by(
        "finding__key"
    )
    assert list(rows) == [("atelectasis", "reject", "wrong_key"), ("nodule", "reject", "wrong_key")]


def test_bulk_with_a_stale_version_saves_nothing(review, clinician):
    nodule, bron = _f(review, "nodule"), _f(review, "bronchiectasis")
    finding_decide(finding_id=bron.pk, user=clinician, action="approve", version=1)
    with pytest.raises(ReviewConflict):
        findings_bulk_decide(
            review_id=review.pk,
            user=clinician,
            action="reject",
            versions={nodule.pk: 1, bron.pk: 1},
            reason_code="hallucinated",
        )
    assert _f(review, "nodule").status == "pending" and ReviewDecision.objects.count() == 1


def test_bulk_view_and_api(client, review, clinician):
    client.force_login(clinician)
    ids = [f"{f.pk}:{f.version}" for f in review.findings.all()]
    html = client.post(
        reverse("review:bulk", args=[review.report_id]),
        {"action": "approve", "ids": ids},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Approved 2 findings. Skipped 2" in html
    cons = _f(review, "consolidation")
    response = _api(clinician).post(
        f"/api/review/reports/{review.report_id}/bulk/",
        {
            "action": "reject",
            "findings": [{"id": cons.pk, "version": cons.version}],
            "reason_code": "wrong_location",
        },
        format="json",
    )
    assert response.status_code == 200 and response.json()["done"] == ["consolidation"]


# -- undo and the buttons of each state -------------------------------------------------------


def test_undo_returns_an_edited_finding_to_pending_with_the_ai_values(review, clinician):
    cons = _f(review, "consolidation")
    finding_decide(
        finding_id=cons.pk, user=clinician, action="edit", version=1, locations=["lingula"], confirm=True
    )
    finding_decide(
        finding_id=cons.pk, user=clinician, action="reject", version=2, reason_code="wrong_location"
    )
    finding_undo(finding_id=cons.pk, user=clinician, version=3)
    cons = _f(review, "consolidation")
    assert (cons.status, cons.locations, cons.reason_code, cons.decided_by) == (
        "pending",
        ["left lower lobe"],
        "",
        None,
    )
    assert [d.action for d in ReviewDecision.objects.order_by("id")] == ["edit", "reject", "undo"]


def test_undo_of_an_added_finding_withdraws_it(review, clinician):
    added = finding_add(review_id=review.pk, user=clinician, key="mass", start=0, end=5)
    finding_undo(finding_id=added.pk, user=clinician, version=added.version)
    assert not review.findings.filter(key="mass", superseded=False).exists()
    with pytest.raises(ValidationError, match="no decision"):
        finding_undo(finding_id=_f(review, "nodule").pk, user=clinician, version=1)


def _card(html, finding_id):
    start = html.index(f'id="finding-{finding_id}"')
    return html[start : html.index("</article>", start)]


def test_a_decided_finding_shows_undo_and_change_not_approve(client, review, clinician):
    nodule, cons = _f(review, "nodule"), _f(review, "consolidation")
    finding_decide(finding_id=nodule.pk, user=clinician, action="approve", version=1)
    finding_decide(
        finding_id=cons.pk, user=clinician, action="edit", version=1, locations=["lingula"], confirm=True
    )
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[review.report_id])).content.decode()
    approved, edited, pending = (
        _card(html, nodule.pk),
        _card(html, cons.pk),
        _card(html, _f(review, "bronchiectasis").pk),
    )
    for card, state in ((approved, "✓ Approved"), (edited, "✎ Edited")):
        assert state in card and "act-undo" in card and "act-change" in card
        assert "act-approve" not in card
    assert "act-approve" in pending and "act-undo" not in pending
    flagged = _card(html, _f(review, "atelectasis").pk)
    assert "act-confirm" in flagged and 'class="act-approve"' not in flagged
    assert (
        "stage 1 only (stage 2 did not confirm)" in flagged and "Its evidence is not in the report" in flagged
    )


def test_undo_view(client, review, clinician):
    nodule = _f(review, "nodule")
    finding_decide(finding_id=nodule.pk, user=clinician, action="approve", version=1)
    client.force_login(clinician)
    client.post(
        reverse("review:undo", args=[review.report_id, nodule.pk]), {"version": 2}, HTTP_HX_REQUEST="true"
    )
    assert _f(review, "nodule").status == "pending"


# -- add from the selected span ---------------------------------------------------------------


def test_add_form_guesses_the_key_and_locations_of_the_selected_span(client, review, clinician):
    client.force_login(clinician)
    start = CHEST_TEXT.index("Consolidation in the left lower lobe")
    url = reverse("review:add_form", args=[review.report_id])
    html = client.get(url, {"start": start, "end": start + 36}).content.decode()
    assert '<option value="consolidation" selected>' in html
    assert 'value="left lower lobe" checked' in html
    assert f'name="start" id="add-start" value="{start}"' in html
    assert "read as <strong>consolidation</strong>" in html


def test_add_form_without_a_finding_keyword_preselects_nothing(client, review, clinician):
    client.force_login(clinician)
    html = client.get(
        reverse("review:add_form", args=[review.report_id]), {"start": 0, "end": 5}
    ).content.decode()
    assert " selected>" not in html and "choose the finding" in html


def test_add_form_escapes_the_selected_text(client, clinician):
    text = "<script>alert(1)</script> Small nodule in the RUL."
    review = sync_report_findings(chest_report_with_predictions(text=text))
    client.force_login(clinician)
    html = client.get(
        reverse("review:add_form", args=[review.report_id]), {"start": 0, "end": 25}
    ).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_finding_is_added_only_with_its_evidence(review, clinician):
    with pytest.raises(ValidationError, match="Select the text that shows “mass”"):
        finding_add(review_id=review.pk, user=clinician, key="mass")
    assert not review.findings.filter(key="mass").exists()


# -- who may, and CSRF ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bulk", "undo", "add_form"])
def test_new_review_endpoints_are_for_clinicians_only(client, review, annotator, admin_user, name):
    args = [review.report_id, _f(review, "nodule").pk] if name == "undo" else [review.report_id]
    url = reverse(f"review:{name}", args=args)
    for user in (annotator, admin_user):
        client.force_login(user)
        response = client.get(url, {"start": 0, "end": 5}) if name == "add_form" else client.post(url, {})
        assert response.status_code == 403


@pytest.mark.parametrize("name", ["bulk", "undo", "decide"])
def test_htmx_posts_without_the_csrf_token_are_refused(review, clinician, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    nodule = _f(review, "nodule")
    args = [review.report_id] if name == "bulk" else [review.report_id, nodule.pk]
    data = {"action": "approve", "version": 1, "ids": [f"{nodule.pk}:1"]}
    assert client.post(reverse(f"review:{name}", args=args), data, HTTP_HX_REQUEST="true").status_code == 403
    assert _f(review, "nodule").status == "pending"


# -- export -----------------------------------------------------------------------------------


def _rows(spec):
    return list(csv.DictReader(io.StringIO("".join(export_lines(spec)), newline="")))


def test_no_export_calls_a_finding_verified_without_its_offsets(review, clinician):
    for f in review.findings.all():
        approve(f, clinician)
    # A row decided before the evidence rule: approved, verified, but with no span.
    ReviewFinding.objects.create(
        review=review,
        report=review.report,
        kind="lesion",
        key="mass",
        status="approved",
        decided_by=clinician,
    )
    assert ReviewReport.objects.get(pk=review.pk).verified_at is not None
    rows = _rows(ExportSpec(fmt="note_nlp", labels=("verified",)))
    keys = sorted(r["term_modifiers"].split("key=")[1].split(";")[0] for r in rows)
    assert keys == ["atelectasis", "bronchiectasis", "consolidation", "nodule"]
    assert all(r["offset"] not in ("", None) for r in rows)
    flat = _rows(ExportSpec(fmt="csv", labels=("verified",)))
    assert all(r["start"] and r["end"] for r in flat) and len(flat) == 4

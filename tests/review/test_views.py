import re

import pytest
from django.urls import reverse

from annotations.models import AssertionTrigger
from annotations.services.rules import trigger_create, trigger_set_active
from review.models import ReviewDecision, ReviewReport
from review.services import finding_decide, sync_report_findings
from tests.annotations.factories import ReportFactory, modality
from tests.inference.factories import Stage2PredictionFactory, finding
from tests.radreview.factories import UserFactory
from tests.review.factories import CHEST_TEXT, chest_report_with_predictions

pytestmark = pytest.mark.django_db

EVIL = "<script>alert(1)</script> <b>bold</b> 우상엽에 5 mm 결절 있음. Small nodule in the RUL."


@pytest.fixture
def review():
    return sync_report_findings(chest_report_with_predictions(external_id="chest-1"))


def _f(review, key):
    return review.findings.get(key=key, superseded=False)


@pytest.mark.parametrize("name", ["queue", "review", "history", "timeline", "provenance"])
def test_anonymous_users_are_sent_to_login(client, review, name):
    url = _url(name, review)
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _url(name, review):
    args = {"queue": [], "provenance": [review.report_id, _f(review, "nodule").pk]}.get(
        name, [review.report_id]
    )
    return reverse(f"review:{name}", args=args)


@pytest.mark.parametrize("name", ["queue", "review", "timeline", "provenance"])
def test_review_pages_are_for_clinicians_only(client, review, annotator, admin_user, clinician, name):
    url = _url(name, review)
    for user, expected in ((annotator, 403), (admin_user, 403), (clinician, 200)):
        client.force_login(user)
        assert client.get(url).status_code == expected, user


def test_history_is_for_clinicians_and_admins(client, review, annotator, admin_user, clinician):
    url = _url("history", review)
    for user, expected in ((annotator, 403), (admin_user, 200), (clinician, 200)):
        client.force_login(user)
        assert client.get(url).status_code == expected, user


@pytest.mark.parametrize("user_fixture", ["annotator", "admin_user"])
def test_non_clinicians_cannot_post_decisions(client, review, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))
    nodule = _f(review, "nodule")
    url = reverse("review:decide", args=[review.report_id, nodule.pk])
    assert client.post(url, {"action": "approve", "version": 1}).status_code == 403
    assert not ReviewDecision.objects.exists()


def test_report_text_is_escaped_on_every_page(client, clinician, admin_user):
    report = ReportFactory(text=EVIL, external_id="evil")
    Stage2PredictionFactory(
        report=report,
        findings=[finding(EVIL, "nodule", "<script>alert(1)</script>", locations=["right upper lobe"])],
        messages=[{"role": "user", "content": "Report: " + EVIL}],
        raw_output='{"e": "<script>alert(1)</script>"}',
        parsed={"nodule": {"s": "present", "l": [], "e": "<script>alert(1)</script>"}},
    )
    review = sync_report_findings(report)
    f = review.findings.get()
    client.force_login(clinician)
    pages = [
        reverse("review:review", args=[report.pk]),
        reverse("review:provenance", args=[report.pk, f.pk]),
        reverse("review:history", args=[report.pk]),
    ]
    for url in pages:
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html, url
        assert "<b>bold</b>" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
    review_html = client.get(pages[0]).content.decode()
    assert "결절" in review_html and "&lt;b&gt;bold&lt;/b&gt;" in review_html
    client.force_login(admin_user)
    assert "&lt;script&gt;" in client.get(pages[2]).content.decode()


def test_review_page_shows_findings_grid_flags_and_provenance_link(client, clinician, review):
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[review.report_id])).content.decode()
    assert f'id="finding-{_f(review, "nodule").pk}"' in html
    assert "stage1_only" in html  # atelectasis: stage 1 says yes, stage 2 did not
    assert 'aria-label="nodule in right upper lobe"' in html
    assert html.count('class="cell on ai"') == 3  # nodule RUL, consolidation LLL, bronchiectasis both lungs
    assert "p = 0.93" in html


def test_provenance_shows_stage1_prompt_raw_and_parsed(client, clinician, review):
    client.force_login(clinician)
    f = _f(review, "nodule")
    html = client.get(reverse("review:provenance", args=[review.report_id, f.pk])).content.decode()
    assert "Example 1" in html and "Candidates: nodule" in html  # the exact prompt
    assert "&quot;right upper lobe&quot;" in html or "right upper lobe" in html  # raw + parsed
    assert "0.930" in html and f.model_version_name in html


def test_htmx_decision_swaps_the_panel_and_last_one_opens_the_next_report(client, clinician, review):
    other = sync_report_findings(chest_report_with_predictions(external_id="chest-2"))
    client.force_login(clinician)
    findings = list(review.findings.filter(superseded=False))
    for f in findings[:-1]:
        url = reverse("review:decide", args=[review.report_id, f.pk])
        data = {"action": "approve", "version": f.version, "confirm": "1", "start": 0, "end": 5}
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and 'id="review-main"' in response.content.decode()
    last = findings[-1]
    url = reverse("review:decide", args=[review.report_id, last.pk])
    response = client.post(
        url, {"action": "reject", "version": 1, "reason_code": "hallucinated"}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Redirect"] == reverse("review:review", args=[other.report_id])
    review.refresh_from_db()
    assert review.status == ReviewReport.Status.VERIFIED


def test_htmx_errors_are_shown_in_the_panel(client, clinician, review):
    client.force_login(clinician)
    f = _f(review, "nodule")
    url = reverse("review:decide", args=[review.report_id, f.pk])
    html = client.post(url, {"action": "reject", "version": 1}, HTTP_HX_REQUEST="true").content.decode()
    assert "Choose a reason" in html
    html = client.post(url, {"action": "approve"}, HTTP_HX_REQUEST="true").content.decode()
    assert "missing the finding version" in html


def test_second_clinician_sees_who_has_the_report_and_gets_read_only_page(client, clinician, review):
    client.force_login(clinician)
    client.get(reverse("review:review", args=[review.report_id]))
    other = UserFactory(username="clin2", role="clinician")
    client.force_login(other)
    html = client.get(reverse("review:review", args=[review.report_id])).content.decode()
    assert "clin has this report open" in html
    assert "act-approve" not in html
    f = _f(review, "nodule")
    response = client.post(
        reverse("review:decide", args=[review.report_id, f.pk]),
        {"action": "approve", "version": 1},
        HTTP_HX_REQUEST="true",
    )
    assert "clin is reviewing this report" in response.content.decode()
    assert not ReviewDecision.objects.exists()


def test_queue_filters_counts_and_priority(client, clinician):
    calm_text = "Small nodule in the RUL."
    calm = ReportFactory(text=calm_text, external_id="calm", patient_id="PX")
    Stage2PredictionFactory(
        report=calm, findings=[finding(calm_text, "nodule", "Small nodule", locations=[])]
    )
    sync_report_findings(calm)
    busy = sync_report_findings(chest_report_with_predictions(external_id="busy", patient_id="PY"))
    brain = ReportFactory(text="Glioma, stable.", modality=modality("brain_mri"), external_id="brain")
    Stage2PredictionFactory(
        report=brain, findings=[finding("Glioma, stable.", "glioma", "Glioma", kind="diagnosis")]
    )
    sync_report_findings(brain)
    client.force_login(clinician)
    html = client.get(reverse("review:queue")).content.decode()
    assert html.index(">busy<") < html.index(">calm<")  # disagreement ranks first
    assert "Not started: <strong>3</strong>" in html
    html = client.get(reverse("review:queue"), {"modality": "brain_mri"}).content.decode()
    assert ">brain<" in html and ">busy<" not in html
    html = client.post(reverse("review:queue"), {"patient": "PX"}, follow=True).content.decode()
    assert ">calm<" in html and ">busy<" not in html
    html = client.get(reverse("review:queue"), {"finding": "atelectasis"}).content.decode()
    assert ">busy<" in html and ">calm<" not in html
    html = client.get(reverse("review:queue"), {"model_version": busy.model_version_id}).content.decode()
    assert ">busy<" in html and ">calm<" not in html
    html = client.get(reverse("review:queue"), {"date_from": "not-a-date"}).content.decode()
    assert "must be a date" in html


def test_brain_timeline_shows_prior_verified_episodes(client, clinician):
    brain = modality("brain_mri")
    prior_text = "Glioblastoma, increased in size."
    prior = ReportFactory(text=prior_text, modality=brain, patient_id="B1", external_id="prior")
    Stage2PredictionFactory(
        report=prior,
        findings=[finding(prior_text, "glioma", "Glioblastoma", kind="diagnosis", episode="progression")],
    )
    review = sync_report_findings(prior)
    g = review.findings.get()
    finding_decide(finding_id=g.pk, user=clinician, action="approve", version=g.version)
    current = ReportFactory(text="Glioma, stable.", modality=brain, patient_id="B1", external_id="current")
    client.force_login(clinician)
    html = client.get(reverse("review:timeline", args=[current.pk])).content.decode()
    assert ">prior<" in html and "glioma: progression" in html


def test_review_page_and_queue_query_counts_do_not_grow_with_findings(
    client, clinician, review, django_assert_max_num_queries
):
    for i in range(30):
        sync_report_findings(chest_report_with_predictions(external_id=f"more-{i}"))
    client.force_login(clinician)
    client.get(reverse("review:review", args=[review.report_id]))  # warm the per-process caches
    with django_assert_max_num_queries(12):
        assert client.get(reverse("review:review", args=[review.report_id])).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(reverse("review:queue")).status_code == 200


def test_text_in_the_evidence_quote_is_highlighted_on_the_page(client, clinician, review):
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[review.report_id])).content.decode()
    start = CHEST_TEXT.index("Small nodule in the RUL")
    assert f'data-ev-start="{start}"' in html
    assert 'class="seg m ent-finding' in html and "negated" in html  # "No pleural effusion"


def test_brain_review_groups_details_under_other_non_tumor_without_grid(client, clinician):
    text = "Glioblastoma, increased in size. Old lacunar infarct."
    report = ReportFactory(text=text, modality=modality("brain_mri"), external_id="brain-1")
    Stage2PredictionFactory(
        report=report,
        findings=[
            finding(
                text, "glioma", "Glioblastoma, increased in size", kind="diagnosis", episode="progression"
            ),
            finding(
                text, "other non-tumor", "lacunar infarct", kind="diagnosis", details=["stroke/infarction"]
            ),
            finding(text, "stroke/infarction", "lacunar infarct", kind="non_tumor"),
        ],
    )
    review = sync_report_findings(report)
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[report.pk])).content.decode()
    assert 'id="grid"' not in html and 'id="timeline-btn"' in html
    child = review.findings.get(key="stroke/infarction")
    assert f'class="finding rv-f-pending child" id="finding-{child.pk}"' in html
    assert (
        html.index('data-key="glioma"')
        < html.index('data-key="other non-tumor"')
        < html.index('data-key="stroke/infarction"')
    )
    assert "progression" in html


def _drawn(client, url: str, start: int, end: int) -> str:
    """The css class of the highlighted mention [start, end) on the review page."""
    html = client.get(url).content.decode()
    found = re.search(rf'<span class="([^"]*)" data-start="{start}" data-end="{end}"', html)
    assert found is not None, (start, end)
    return found.group(1)


def test_the_page_draws_assertions_with_the_triggers_admins_edit(client, clinician, admin_user):
    text = "Consolidation is not appreciable in the LLL. Pleural effusion not detected."
    review = sync_report_findings(chest_report_with_predictions(text=text, external_id="edited-rules"))
    url = reverse("review:review", args=[review.report_id])
    consolidation = (0, len("Consolidation"))
    effusion = (text.index("Pleural effusion"), text.index(" not detected"))
    client.force_login(clinician)
    assert "negated" not in _drawn(client, url, *consolidation)
    assert "negated" in _drawn(client, url, *effusion)

    trigger_create(phrase="not appreciable", category="NEG", direction="BWD", user=admin_user)
    default = AssertionTrigger.objects.get(phrase="not detected", category="NEG", direction="BWD")
    trigger_set_active(trigger=default, active=False)

    # The same process, no restart: the next request draws with the edited rules.
    assert "negated" in _drawn(client, url, *consolidation)
    assert "negated" not in _drawn(client, url, *effusion)
